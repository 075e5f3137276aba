/// The PEM files an `ssl:` endpoint serves with (Twisted's `privateKey=`, `certKey=`, `extraCertChain=`).
///
/// Paths are kept as given (relative ones are read from the working directory). They are read when the
/// server starts, on SIGHUP, and when the periodic check sees them change; never on an event loop.
public struct TLSFiles: Sendable, Hashable {
    /// The private key (PEM).
    public var privateKey: String
    /// The certificate (PEM); Twisted's default is the key's file, for a PEM holding both.
    public var certificate: String
    /// Intermediate certificates sent after the certificate (PEM, one or more), e.g. certbot's `chain.pem`.
    /// certbot's `fullchain.pem` as the certificate does the same without this.
    public var extraCertificateChain: String?

    public init(privateKey: String, certificate: String? = nil, extraCertificateChain: String? = nil) {
        self.privateKey = privateKey
        self.certificate = certificate ?? privateKey
        self.extraCertificateChain = extraCertificateChain
    }

    /// Every file, in the order they are read.
    public var paths: [String] { [certificate, privateKey] + (extraCertificateChain.map { [$0] } ?? []) }
}
