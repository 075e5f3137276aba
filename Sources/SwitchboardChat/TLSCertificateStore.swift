import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import SwitchboardProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The TLS context an `ssl:` endpoint gives each new connection, and its replacement when the certificate
/// files change: on SIGHUP and at the periodic check (``ServerConfiguration/tlsReloadInterval``), for a
/// certificate that certbot (or anyone) renews in place.
///
/// ```
///   reload() ─▶ read the files ─▶ same bytes as in use? ──yes──▶ .unchanged
///                                  └ no ─▶ load and check ─▶ .reloaded(serial): new connections use it
///                                                          └ .failed(why): the old context stays; the same
///                                                            broken files fail again quietly (`isNew` false)
/// ```
/// Connections already open keep the context they started with. Loading refuses a key that does not match
/// the certificate, a file that is not PEM, and TLS older than 1.2.
///
/// Thread-safe (its state is behind a lock). ``reload(force:)`` reads files and builds a context, which is
/// blocking work: call it off the event loops (the server uses NIO's thread pool).
public final class TLSCertificateStore: Sendable {
    /// What one load produced.
    private struct Loaded: Sendable {
        let context: NIOSSLContext
        let contents: [[UInt8]]
        let certificate: TLSCertificateSummary
    }

    private struct State: Sendable {
        var loaded: Loaded
        /// The contents that failed last and why, so the periodic check reports a broken file once.
        var lastFailure: (contents: [[UInt8]], error: TLSLoadError)?
    }

    /// What a reload did.
    public enum ReloadOutcome: Sendable {
        /// The files hold what is in use already.
        case unchanged
        /// New connections get the new certificate.
        case reloaded(TLSCertificateSummary)
        /// The files could not be used; the previous certificate stays. `isNew`: these contents had not
        /// failed before (the periodic check logs only those).
        case failed(TLSLoadError, isNew: Bool)
    }

    /// The files this store reads.
    public let files: TLSFiles
    private let state: NIOLockedValueBox<State>

    /// Loads `files`, or throws an error naming the file and what is wrong with it.
    public init(loading files: TLSFiles) throws(TLSLoadError) {
        self.files = files
        let contents = try TLSCertificateStore.readAll(files)
        self.state = NIOLockedValueBox(State(loaded: try TLSCertificateStore.load(files, contents)))
    }

    /// The context for a new connection.
    public var context: NIOSSLContext { state.withLockedValue { $0.loaded.context } }

    /// The certificate in use.
    public var certificate: TLSCertificateSummary { state.withLockedValue { $0.loaded.certificate } }

    /// Reads the files again and, when they changed (or `force`), loads them for new connections.
    public func reload(force: Bool = false) -> ReloadOutcome {
        let contents: [[UInt8]]
        do {
            contents = try TLSCertificateStore.readAll(files)
        } catch {
            return failed(error, contents: nil)
        }
        let (current, lastFailure) = state.withLockedValue { ($0.loaded.contents, $0.lastFailure) }
        if contents == current && !force {
            state.withLockedValue { $0.lastFailure = nil }  // put back as they were: a new break is news again
            return .unchanged
        }
        if let lastFailure, contents == lastFailure.contents, !force { return .failed(lastFailure.error, isNew: false) }
        do {
            let loaded = try TLSCertificateStore.load(files, contents)
            state.withLockedValue {
                $0.loaded = loaded
                $0.lastFailure = nil
            }
            return .reloaded(loaded.certificate)
        } catch {
            return failed(error, contents: contents)
        }
    }

    private func failed(_ error: TLSLoadError, contents: [[UInt8]]?) -> ReloadOutcome {
        // An unreadable file has no contents: it counts as new only the first time in a row.
        let marker = contents ?? [Array("unreadable: \(error)".utf8)]
        let isNew = state.withLockedValue { state in
            defer { state.lastFailure = (marker, error) }
            return state.lastFailure?.contents != marker || state.lastFailure?.error != error
        }
        return .failed(error, isNew: isNew)
    }

    // MARK: - Loading

    /// The files' bytes: certificate, key, then the extra chain if any.
    private static func readAll(_ files: TLSFiles) throws(TLSLoadError) -> [[UInt8]] {
        var contents = [try readFile(files.certificate), try readFile(files.privateKey)]
        if let chain = files.extraCertificateChain { contents.append(try readFile(chain)) }
        return contents
    }

    private static func load(_ files: TLSFiles, _ contents: [[UInt8]]) throws(TLSLoadError) -> Loaded {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(contents[0])
        } catch {
            throw TLSLoadError(file: files.certificate, reason: "not a PEM certificate")
        }
        guard let leaf = certificates.first else {
            throw TLSLoadError(file: files.certificate, reason: "holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: contents[1], format: .pem)
        } catch {
            throw TLSLoadError(file: files.privateKey, reason: "not an unencrypted PEM private key")
        }
        var chain: [NIOSSLCertificate] = []
        if let chainFile = files.extraCertificateChain {
            do {
                chain = try NIOSSLCertificate.fromPEMBytes(contents[2])
            } catch {
                throw TLSLoadError(file: chainFile, reason: "not PEM certificates")
            }
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: (certificates + chain).map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.shutdownTimeout = closeNotifyWait
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            // BoringSSL checks the key against the certificate when it takes the key.
            throw TLSLoadError(file: files.privateKey, reason: "does not match the certificate in \(files.certificate)")
        }
        return Loaded(context: context, contents: contents, certificate: TLSCertificateSummary(leaf))
    }

    /// How long a closing connection waits for the client's answer to its `close_notify` before it closes
    /// the socket anyway (NIO's default is 5 s): the leave notice waits for the close, and a client that
    /// stopped reading must not hold it up long. Clients that close their socket end it at once.
    static let closeNotifyWait: TimeAmount = .seconds(1)

    /// The most a certificate, key or chain file may hold (a chain of a dozen certificates is far less).
    static let maximumFileSize = 1 << 20

    private static func readFile(_ path: String) throws(TLSLoadError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TLSLoadError(file: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TLSLoadError(file: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= maximumFileSize else {
                throw TLSLoadError(file: path, reason: "larger than \(maximumFileSize) bytes")
            }
        }
        guard !bytes.isEmpty else { throw TLSLoadError(file: path, reason: "empty") }
        return bytes
    }
}

/// A certificate or key file that cannot be used: one line naming the file.
public struct TLSLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file at fault.
    public var file: String
    /// What is wrong with it.
    public var reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "cannot use TLS file \(file): \(reason)" }
}
