/// A member of another server of the cluster, as this server knows it: its name there, when it claimed the
/// name, and its history row. A value; the chat's roster holds them beside its own members.
package struct RemoteMember: Equatable, Sendable {
    /// A remote member's name cluster-wide: its server's id and its id on that server (``ConnectionKey``'s raw
    /// value there).
    package struct ID: Hashable, Sendable {
        package let server: Int64
        package let member: UInt64

        package init(server: Int64, member: UInt64) {
            self.server = server
            self.member = member
        }
    }

    package let id: ID
    package var nickname: String
    /// When it took its name (µs since 1970, its server's clock): the earlier claim wins a clash.
    package var claimedAt: Int64
    /// Its history row on its server (0 when not known), so a survivor can name the row when it closes it.
    package var visitor: Int64

    package init(id: ID, nickname: String, claimedAt: Int64, visitor: Int64 = 0) {
        self.id = id
        self.nickname = nickname
        self.claimedAt = claimedAt
        self.visitor = visitor
    }

    /// Its claim on its name, for the tie-break.
    package var claim: NameClaim { NameClaim(claimedAt: claimedAt, server: id.server, member: id.member) }
}

/// Who holds a name when two servers' members took it while the servers were apart: the earlier claim, and
/// between equal times the lower server id (then the lower member id, which only a roster out of date can
/// need). The `nicknames` table decides the same way (``ClusterRepository``), so every server agrees.
package struct NameClaim: Comparable, Sendable {
    package let claimedAt: Int64
    package let server: Int64
    package var member: UInt64 = 0

    package init(claimedAt: Int64, server: Int64, member: UInt64 = 0) {
        self.claimedAt = claimedAt
        self.server = server
        self.member = member
    }

    package static func < (a: NameClaim, b: NameClaim) -> Bool {
        (a.claimedAt, a.server, a.member) < (b.claimedAt, b.server, b.member)
    }
}
