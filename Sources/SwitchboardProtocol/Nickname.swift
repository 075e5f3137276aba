/// Nickname rules: 1–32 of `A-Z a-z 0-9 _ -`; uniqueness ignores case (see ``key``).
public enum Nickname {
    public static let maximumLength = 32
    /// What a valid nickname is, in words, for usage lines and problems: `1-32 of A-Z a-z 0-9 _ -`.
    public static let rule = "1-\(maximumLength) of A-Z a-z 0-9 _ -"

    /// `nil` when valid, else a one-line reason for the user.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "a nickname cannot be empty" }
        if name.utf8.count > maximumLength { return "nickname too long (max \(maximumLength) characters)" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x5f || byte == 0x2d
        }
        return allowed ? nil : "invalid nickname '\(name)': use \(rule)"
    }

    /// The form compared for uniqueness: ASCII lowercased.
    public static func key(_ name: String) -> String {
        let isUpper = { (byte: UInt8) in byte >= 0x41 && byte <= 0x5a }
        guard name.utf8.contains(where: isUpper) else { return name }  // most names: no copy
        return String(decoding: name.utf8.map { isUpper($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}

/// The name a client has until it picks one: `guest<visitor number>` (or `guest-<connection>` while the
/// number is unknown), with `-2`, `-3`, … when that one is taken. The one rule the roster names guests by,
/// history names a nameless row by, and the cluster leaves unclaimed by.
public enum GuestName {
    /// `guest42`, or `guest-7` without a visitor number (7 being the connection's key in this process).
    public static func base(visitor: Int64?, connection: UInt64) -> String {
        visitor.map { "guest\($0)" } ?? "guest-\(connection)"
    }

    /// The `attempt`-th guest name for `base`: the base itself, then `base-2`, `base-3`, ….
    public static func candidate(_ base: String, attempt: Int) -> String {
        attempt <= 1 ? base : "\(base)-\(attempt)"
    }

    /// Whether `nickname` is one of the guest names for `base` (the base, or the base with a `-N` suffix).
    public static func isGuestName(_ nickname: String, base: String) -> Bool {
        nickname == base || (nickname.hasPrefix(base + "-") && nickname.dropFirst(base.count + 1).allSatisfy(\.isNumber))
    }
}
