import SwitchboardHistory
import SwitchboardProtocol

/// What each client asked for itself: away (with a reason), nicknames it ignores, the bell on mentions.
/// All of it lasts for the connection only.
///
/// Ownership: a value inside ``ChatHub``, on the hub's event loop.
struct ClientPreferences {
    /// Most nicknames one connection may ignore (a bound on memory and on the per-line check).
    static let maximumIgnored = 100

    /// Away clients and their reason (empty: none given).
    var away: [ConnectionKey: String] = [:]
    /// Nickname keys each connection ignores.
    var ignoring: [ConnectionKey: Set<String>] = [:]
    /// Connections that asked for the bell when a line mentions them.
    var bell: Set<ConnectionKey> = []

    /// Whether any client ignores anyone or wants the bell: when not, chat lines take the shared fan-out path
    /// untouched.
    var altersDelivery: Bool { !ignoring.isEmpty || !bell.isEmpty }

    /// Whether `id` ignores the nickname `key`.
    func ignores(_ id: ConnectionKey, _ key: String) -> Bool { ignoring[id]?.contains(key) == true }

    mutating func forget(_ id: ConnectionKey) {
        away[id] = nil
        ignoring[id] = nil
        bell.remove(id)
    }

    /// Whether `text` mentions `nickname` as a word (ignoring case): `bob`, `@bob`, `bob:` do; `bobby` does not.
    static func mentions(_ text: String, _ nickname: String) -> Bool {
        let key = Array(Nickname.key(nickname).utf8)
        let bytes = Array(Nickname.key(text).utf8)
        guard !key.isEmpty, bytes.count >= key.count else { return false }
        func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x5f || byte == 0x2d
        }
        var start = 0
        while start + key.count <= bytes.count {
            if bytes[start..<start + key.count].elementsEqual(key),
                start == 0 || !isNameByte(bytes[start - 1]),
                start + key.count == bytes.count || !isNameByte(bytes[start + key.count])
            {
                return true
            }
            start += 1
        }
        return false
    }
}
