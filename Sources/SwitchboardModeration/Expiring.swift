import SwitchboardDatabase

/// Something an operator set that holds until it expires, or until lifted when it has no end (a ban, a mute).
public protocol Expiring {
    /// When it stops holding; `nil` until lifted.
    var expiresAt: Timestamp? { get }
}

extension Expiring {
    /// Whether it holds at `now`.
    public func isActive(at now: Timestamp) -> Bool {
        guard let expiresAt else { return true }
        return now < expiresAt
    }
}
