import SwitchboardProtocol
import SwitchboardHistory
import SwitchboardCluster

/// Who is in the chat, as a value: members by id, the case-folded nickname index, per-address counts,
/// and the rules — admission (`server full`, the per-address limit), guest names, renames, the visit count.
/// No NIO and no I/O: the ``ChatHub`` owns one on its event loop and does the talking; tests drive it
/// directly.
///
/// ```
///   admit(address) ──▶ admitted(id)  ──join(id, visitor)──▶  joined(id, "guest42")  ──leave(id)──▶ gone
///        └─▶ refused (server full / too many from the address)       └─ rename(id, "alice")
/// ```
/// In a cluster the roster also holds the other servers' members (``RemoteMember``, from `SwitchboardCluster`):
/// they count, they are listed, their names are taken. Names are claimed in PostgreSQL, so two members share a
/// name only after the servers were apart; then the earlier claim keeps it (``NameClaim``) and a local loser is
/// renamed to its guest name (``placeRemote(_:)``). A remote loser stays listed but unindexed until its own
/// server renames it.
struct Roster {
    /// One member.
    struct Member: Equatable {
        let id: ConnectionKey
        /// The IP address it connected from, for the per-address limit (`nil` for Unix sockets, and behind a
        /// proxy until the PROXY header names the client).
        var address: String?
        /// `nil` until it joins (gets its name).
        var nickname: String?
        /// Its visitor number (for its guest name), once joined.
        var visitor: Int64? = nil
        /// When it took its current name (µs since 1970): the earlier claim wins a clash between servers.
        var claimedAt: Int64 = 0
    }

    /// A local member renamed because a remote member's earlier claim won its name.
    struct ForcedRename: Equatable {
        let id: ConnectionKey
        let old: String
        let new: String
    }

    /// Why a connection is turned away.
    enum Refusal: Error, Equatable {
        case serverFull
        case tooManyFromAddress
        /// A ban holds for the client's address; the detail is `(REASON, until …)`.
        case banned(detail: String)
    }

    /// Why a rename is refused.
    enum RenameError: Error, Equatable {
        case invalid(String)
        case alreadyNamed(String)
        case taken(String)
    }

    /// Most members (admitted or joined) at once; a lower value set while running (SIGHUP) refuses newcomers
    /// until enough have left, and closes no one.
    var maximumMembers: Int
    /// Most members from one address; 0 means no limit. Lowered while running, it applies to newcomers only.
    var maximumPerAddress: Int

    private(set) var members: [ConnectionKey: Member] = [:]
    /// Case-folded nickname (``Nickname/key(_:)``) → member id, for joined members.
    private(set) var nicknameIndex: [String: ConnectionKey] = [:]
    private(set) var addressCounts: [String: Int] = [:]
    /// The other servers' members (cluster mode), and the index of the names they hold.
    private(set) var remote: [RemoteMember.ID: RemoteMember] = [:]
    private(set) var remoteNicknames: [String: RemoteMember.ID] = [:]
    /// This server's id, for the tie-break between claims made at the same microsecond.
    var localServer: Int64 = 0
    private var nextID: UInt64 = 1
    /// Visits not admitted here: those the database counted at start-up, then (cluster mode) those it counts
    /// for the other servers at each heartbeat.
    private var visitsElsewhere: Int64
    /// Visits admitted here since start (exact: the database's count of them lags by the rows not yet written).
    private(set) var localVisits: Int64 = 0
    /// The other servers' visits heard of (their members' joins) since the database last counted them.
    private var visitsHeard: Int64 = 0
    /// No one is admitted once this is set (shutdown).
    var isClosed = false

    init(maximumMembers: Int, maximumPerAddress: Int, totalVisits: Int64 = 0) {
        self.maximumMembers = maximumMembers
        self.maximumPerAddress = maximumPerAddress
        self.visitsElsewhere = totalVisits
    }

    /// Accepted connections ever, on every server: `/count`'s total.
    var totalVisits: Int64 { visitsElsewhere + localVisits + visitsHeard }

    /// Members admitted or joined.
    var count: Int { members.count }
    /// Members that have joined (have a name), here and on the other servers: the count every notice shows.
    var joinedCount: Int { nicknameIndex.count + remote.count }
    /// Local members that have joined.
    var localJoinedCount: Int { nicknameIndex.count }

    /// Counts a visit to another server of the cluster (its member joined), until the database's next count.
    mutating func countRemoteVisit() { visitsHeard += 1 }

    /// The database's count of the other servers' visits (and those from before this server started), and
    /// how many of their joins were heard since it was read: the total starts again from there, so what was
    /// missed (a dropped message, a visitor that left before joining) or counted twice does not last.
    mutating func rebaseVisits(elsewhere: Int64, heardSince: Int64) {
        visitsElsewhere = elsewhere
        visitsHeard = max(0, heardSince)
    }

    /// Admits a newcomer from `address`, or says why not. Admission counts a visit.
    mutating func admit(address: String?) -> Result<ConnectionKey, Refusal> {
        if isClosed || members.count >= maximumMembers { return .failure(.serverFull) }
        if maximumPerAddress > 0, let address, addressCounts[address, default: 0] >= maximumPerAddress {
            return .failure(.tooManyFromAddress)
        }
        let id = ConnectionKey(nextID)
        nextID += 1
        members[id] = Member(id: id, address: address, nickname: nil)
        if let address { addressCounts[address, default: 0] += 1 }
        localVisits += 1
        return .success(id)
    }

    /// Gives a member admitted without an address (behind a proxy) the client address its PROXY header named,
    /// or refuses when that address is at its limit (the member stays admitted: ``withdraw(_:)`` it).
    mutating func setAddress(_ id: ConnectionKey, to address: String) -> Result<Void, Refusal> {
        guard var member = members[id], member.address == nil else { return .success(()) }
        if maximumPerAddress > 0, addressCounts[address, default: 0] >= maximumPerAddress {
            return .failure(.tooManyFromAddress)
        }
        member.address = address
        members[id] = member
        addressCounts[address, default: 0] += 1
        return .success(())
    }

    /// Removes an admitted member that never reached the chat (its TLS handshake or PROXY header failed, or it
    /// was refused once its address was known): as if it had never been admitted, its visit uncounted.
    mutating func withdraw(_ id: ConnectionKey) {
        guard let member = leave(id) else { return }
        precondition(member.nickname == nil, "a member that joined leaves; it is not withdrawn")
        localVisits -= 1
    }

    /// Gives an admitted member its guest name: `guest<visitor>` (the visitor number is its history row
    /// id), or `guest-<id>` when the database could not say the number in time; `-2`, `-3`, … on a clash.
    /// Returns `nil` if `id` is not an admitted member (it left while waiting, or joined already).
    mutating func join(_ id: ConnectionKey, visitor: Int64?, at time: Int64 = 0) -> String? {
        guard var member = members[id], member.nickname == nil else { return nil }
        let nickname = guestName(id, visitor: visitor, avoiding: nil)
        member.nickname = nickname
        member.visitor = visitor
        member.claimedAt = time
        members[id] = member
        nicknameIndex[Nickname.key(nickname)] = id
        return nickname
    }

    /// `guest<visitor>` (or `guest-<id>`), with `-2`, `-3`, … while that is taken (or is `avoiding`).
    private func guestName(_ id: ConnectionKey, visitor: Int64?, avoiding: String?) -> String {
        let base = GuestName.base(visitor: visitor, connection: id.rawValue)
        var attempt = 1
        var nickname = base
        while isTaken(Nickname.key(nickname)) || nickname == avoiding {
            attempt += 1
            nickname = GuestName.candidate(base, attempt: attempt)
        }
        return nickname
    }

    private func isTaken(_ key: String) -> Bool { nicknameIndex[key] != nil || remoteNicknames[key] != nil }

    /// Whether `id` may rename to `newName` (without renaming it): its old name, or why not.
    func checkRename(_ id: ConnectionKey, to newName: String) -> Result<String, RenameError> {
        guard let member = members[id], let old = member.nickname else { return .failure(.invalid("not joined")) }
        if let problem = Nickname.problem(with: newName) { return .failure(.invalid(problem)) }
        if newName == old { return .failure(.alreadyNamed(newName)) }
        let newKey = Nickname.key(newName)
        if let holder = nicknameIndex[newKey], holder != id { return .failure(.taken(newName)) }
        if remoteNicknames[newKey] != nil { return .failure(.taken(newName)) }
        return .success(old)
    }

    /// Renames a joined member; returns its old name.
    mutating func rename(_ id: ConnectionKey, to newName: String, at time: Int64 = 0) -> Result<String, RenameError> {
        let checked = checkRename(id, to: newName)
        guard case .success(let old) = checked, var member = members[id] else { return checked }
        nicknameIndex[Nickname.key(old)] = nil
        nicknameIndex[Nickname.key(newName)] = id
        member.nickname = newName
        // A change of case keeps the name's key, and so its claim's time.
        if Nickname.key(old) != Nickname.key(newName) { member.claimedAt = time }
        members[id] = member
        promoteWaitingRemote(Nickname.key(old))
        return .success(old)
    }

    /// Removes a member; returns it (with its name if it had joined), or `nil` if it was not here.
    @discardableResult
    mutating func leave(_ id: ConnectionKey) -> Member? {
        guard let member = members.removeValue(forKey: id) else { return nil }
        if let address = member.address {
            let remaining = addressCounts[address, default: 1] - 1
            addressCounts[address] = remaining > 0 ? remaining : nil
        }
        if let nickname = member.nickname {
            nicknameIndex[Nickname.key(nickname)] = nil
            promoteWaitingRemote(Nickname.key(nickname))
        }
        return member
    }

    /// The member named `nickname` (any case), if joined here.
    func member(named nickname: String) -> Member? {
        nicknameIndex[Nickname.key(nickname)].flatMap { members[$0] }
    }

    /// The member of another server named `nickname` (any case), if any.
    func remoteMember(named nickname: String) -> RemoteMember? {
        remoteNicknames[Nickname.key(nickname)].flatMap { remote[$0] }
    }

    /// A local member's name claim, for the tie-break.
    private func claim(of member: Member) -> NameClaim {
        NameClaim(claimedAt: member.claimedAt, server: localServer, member: member.id.rawValue)
    }

    // MARK: - The other servers' members

    /// Adds (or updates) a remote member under its name. When a local member holds that name with a later
    /// claim, the local member is renamed to its guest name and returned; when the local claim is earlier,
    /// the remote member is held unindexed (its own server will rename it).
    mutating func placeRemote(_ member: RemoteMember) -> ForcedRename? {
        removeRemote(member.id)
        remote[member.id] = member
        let key = Nickname.key(member.nickname)
        let theirs = member.claim
        var forced: ForcedRename?
        if let localID = nicknameIndex[key], let local = members[localID] {
            guard theirs < claim(of: local) else { return nil }
            forced = takeGuestName(localID)
        } else if let otherID = remoteNicknames[key], let other = remote[otherID] {
            guard theirs < other.claim else { return nil }
        }
        remoteNicknames[key] = member.id
        return forced
    }

    /// Renames local member `id` to its guest name (it lost its name to another server's earlier claim).
    mutating func takeGuestName(_ id: ConnectionKey) -> ForcedRename? {
        guard var member = members[id], let old = member.nickname else { return nil }
        let new = guestName(id, visitor: member.visitor, avoiding: old)
        nicknameIndex[Nickname.key(old)] = nil
        nicknameIndex[Nickname.key(new)] = id
        member.nickname = new
        members[id] = member
        promoteWaitingRemote(Nickname.key(old))
        return ForcedRename(id: id, old: old, new: new)
    }

    /// Removes a remote member; returns it, if it was here. A member held unindexed under the same name takes
    /// its place in the index.
    @discardableResult
    mutating func removeRemote(_ id: RemoteMember.ID) -> RemoteMember? {
        guard let member = remote.removeValue(forKey: id) else { return nil }
        let key = Nickname.key(member.nickname)
        if remoteNicknames[key] == id {
            remoteNicknames[key] = nil
            promoteWaitingRemote(key)
        }
        return member
    }

    /// When name `key` is free: the remote member held unindexed under it with the earliest claim, if any,
    /// takes it. (Only after a split are members held so; the scan is over remote members.)
    private mutating func promoteWaitingRemote(_ key: String) {
        // Every remote member is indexed or waiting, so a scan is needed only when some are waiting.
        guard remote.count > remoteNicknames.count, nicknameIndex[key] == nil, remoteNicknames[key] == nil else { return }
        let waiting = remote.values.filter { Nickname.key($0.nickname) == key }
        if let next = waiting.min(by: { $0.claim < $1.claim }) {
            remoteNicknames[key] = next.id
        }
    }

    /// The remote members of `server`.
    func remoteMembers(of server: Int64) -> [RemoteMember] {
        remote.values.filter { $0.id.server == server }
    }

    /// Servers this roster holds members of.
    var remoteServers: Set<Int64> { Set(remote.keys.map(\.server)) }

    /// A member's nickname, if it has joined.
    func nickname(of id: ConnectionKey) -> String? { members[id]?.nickname }

    /// Joined nicknames sorted ignoring case, at most `limit`.
    func sortedNicknames(limit: Int) -> [String] {
        guard !remote.isEmpty else {
            return nicknameIndex.sorted { $0.key < $1.key }.prefix(limit).compactMap { members[$0.value]?.nickname }
        }
        var names = nicknameIndex.compactMap { entry in members[entry.value]?.nickname.map { (entry.key, $0) } }
        names += remote.values.map { (Nickname.key($0.nickname), $0.nickname) }
        return names.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.prefix(limit).map(\.1)
    }
}
