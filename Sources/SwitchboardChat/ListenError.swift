import NIOCore
import SwitchboardProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An endpoint the server could not listen on, said in one line (`cannot listen on tcp:0.0.0.0:8000:
/// Address already in use`); the underlying error is kept for logs.
public struct ListenError: Error, CustomStringConvertible {
    public var endpoint: Endpoint
    public var underlying: any Error

    /// For listeners outside this module too (the web listener).
    public init(endpoint: Endpoint, underlying: any Error) {
        self.endpoint = endpoint
        self.underlying = underlying
    }

    public var description: String {
        let reason: String
        if let ioError = underlying as? IOError {
            reason = String(cString: strerror(ioError.errnoCode))
        } else {
            reason = "\(underlying)"
        }
        return "cannot listen on \(endpoint): \(reason)"
    }
}
