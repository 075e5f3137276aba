import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a client got no page, said in one line (the examples send it as `! <description>`). Nothing in a
/// description comes from the remote server's own text, so a hostile server cannot paint the client's terminal.
public enum FetchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The line is not a URL with a host.
    case notAURL
    /// A URL, but not `http:` or `https:` (`file:`, `gopher:`, `unix:`, …).
    case unsupportedScheme(String)
    /// No complete answer within the fetch's deadline (a host that never answers, a page that trickles).
    case timedOut(TimeAmount)
    /// The page is larger than the limit (announced by `Content-Length`, or found while reading it).
    case tooLarge(maximumPageBytes: Int)
    /// The server answered, but not with a page (`404`, `500`, a redirect to a URL that is not followed, …).
    case status(code: Int, reason: String)
    /// The fetch was stopped (its client left).
    case cancelled
    /// Anything else: no connection, a broken answer.
    case failed(String)

    public var description: String {
        switch self {
        case .notAURL: return "not a URL: send one like http://example.com/"
        case .unsupportedScheme(let scheme): return "only http: and https: URLs are fetched, not \(scheme):"
        case .timedOut(let timeout): return "no page within \(FetchError.seconds(timeout)) s"
        case .tooLarge(let maximum): return "the page is larger than \(maximum) bytes"
        case .status(let code, let reason): return "the server answered \(code) \(reason)"
        case .cancelled: return "the fetch was cancelled"
        case .failed(let reason): return "cannot fetch the page: \(reason)"
        }
    }

    /// The fetch error a client is told for an error from AsyncHTTPClient or NIO.
    init(from error: any Error, limits: PageFetcher.Limits) {
        if let error = error as? FetchError {
            self = error
        } else if error is ResponseAccumulator.ResponseTooBigError {
            self = .tooLarge(maximumPageBytes: limits.maximumPageBytes)
        } else if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .connectTimeout, .readTimeout, .writeTimeout, .tlsHandshakeTimeout,
                .getConnectionFromPoolTimeout:
                self = .timedOut(limits.timeout)
            case .cancelled:
                self = .cancelled
            case .redirectLimitReached, .redirectCycleDetected:
                self = .failed("too many redirects")
            case .remoteConnectionClosed:
                self = .failed("the server closed the connection")
            default:
                self = .failed(error.shortDescription)
            }
        } else if let error = error as? NIOConnectionError {
            if let failure = error.connectionErrors.first {
                self = .failed("cannot connect to \(error.host):\(error.port): \(FetchError.reason(failure.error))")
            } else {
                self = .failed("cannot find the address of \(error.host)")
            }
        } else {
            self = .failed(FetchError.reason(error))
        }
    }

    /// The system's words for an errno (`Connection refused`), else the error's own.
    private static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)" : "\(Double(milliseconds) / 1000)"
    }
}

extension FetchError {
    /// For a status that is not a page: the code with its standard reason phrase (never the server's own words).
    static func status(_ status: HTTPResponseStatus) -> FetchError {
        let code = Int(status.code)
        return .status(code: code, reason: HTTPResponseStatus(statusCode: code).reasonPhrase)
    }
}
