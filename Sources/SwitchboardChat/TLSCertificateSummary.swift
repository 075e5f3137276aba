import NIOSSL

/// What the log says about a certificate in use: its serial number and when it expires.
public struct TLSCertificateSummary: Sendable, Equatable, CustomStringConvertible {
    /// The serial number in upper-case hex, as `openssl x509 -serial` prints it.
    public var serial: String
    /// The end of its validity (seconds since 1970).
    public var notValidAfter: Int

    init(_ certificate: NIOSSLCertificate) {
        self.serial = certificate.serialNumber.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        self.notValidAfter = Int(certificate.notValidAfter)
    }

    public var description: String { "serial \(serial)" }
}
