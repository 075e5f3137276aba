/// An account's name and scrypt hash as the database holds them (an operator, a registered nickname): read on
/// the database pool, checked elsewhere (``ModerationRepository/verify(_:against:)``). Never logged or shown.
public struct StoredCredential: Sendable {
    /// The name as stored (an operator's display name; a nickname as asked for).
    public var name: String
    /// `scrypt$…` (see ``PasswordHash``).
    public var passwordHash: String

    public init(name: String, passwordHash: String) {
        self.name = name
        self.passwordHash = passwordHash
    }
}

extension StoredCredential: CustomStringConvertible {
    /// The name only: a credential printed by mistake shows no hash.
    public var description: String { "StoredCredential(\(name))" }
}
