import SwitchboardProtocol
import SwitchboardStorage

/// Who is in the chat, as a value: members by id, the case-folded nickname index, per-address counts,
/// and the rules — admission (`server full`, the per-address limit), guest names, renames, the visit count.
/// No NIO and no I/O: the ``ChatHub`` owns one on its event loop and does the talking; tests drive it
/// directly.
///
/// ```
///   admit(address) ──▶ admitted(id)  ──join(id, visitor)──▶  joined(id, "guest42")  ──leave(id)──▶ gone
///        └─▶ refused (server full / too many from the address)       └─ rename(id, "alice")
/// ```
/// A member need not be a local connection: anything with an id, a name and an address can be held
/// (the cluster's remote members will be).
struct Roster {
    /// One member.
    struct Member: Equatable {
        let id: ConnectionKey
        /// The IP address it connected from, for the per-address limit (`nil` for Unix sockets).
        let address: String?
        /// `nil` until it joins (gets its name).
        var nickname: String?
    }

    /// Why a connection is turned away.
    enum Refusal: Error, Equatable {
        case serverFull
        case tooManyFromAddress
    }

    /// Why a rename is refused.
    enum RenameError: Error, Equatable {
        case invalid(String)
        case alreadyNamed(String)
        case taken(String)
    }

    /// Most members (admitted or joined) at once.
    let maximumMembers: Int
    /// Most members from one address; 0 means no limit.
    let maximumPerAddress: Int

    private(set) var members: [ConnectionKey: Member] = [:]
    /// Case-folded nickname (``Nickname/key(_:)``) → member id, for joined members.
    private(set) var nicknameIndex: [String: ConnectionKey] = [:]
    private(set) var addressCounts: [String: Int] = [:]
    private var nextID: UInt64 = 1
    /// Accepted connections ever (seeded from the database at start-up): `/count`'s total.
    private(set) var totalVisits: Int64
    /// No one is admitted once this is set (shutdown).
    var isClosed = false

    init(maximumMembers: Int, maximumPerAddress: Int, totalVisits: Int64 = 0) {
        self.maximumMembers = maximumMembers
        self.maximumPerAddress = maximumPerAddress
        self.totalVisits = totalVisits
    }

    /// Members admitted or joined.
    var count: Int { members.count }
    /// Members that have joined (have a name): the count every notice shows.
    var joinedCount: Int { nicknameIndex.count }

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
        totalVisits += 1
        return .success(id)
    }

    /// Gives an admitted member its guest name: `guest<visitor>` (the visitor number is its history row
    /// id), or `guest-<id>` when the database could not say the number in time; `-2`, `-3`, … on a clash.
    /// Returns `nil` if `id` is not an admitted member (it left while waiting, or joined already).
    mutating func join(_ id: ConnectionKey, visitor: Int64?) -> String? {
        guard var member = members[id], member.nickname == nil else { return nil }
        let base = visitor.map { "guest\($0)" } ?? "guest-\(id.rawValue)"
        var nickname = base
        var suffix = 2
        while nicknameIndex[Nickname.key(nickname)] != nil {
            nickname = "\(base)-\(suffix)"
            suffix += 1
        }
        member.nickname = nickname
        members[id] = member
        nicknameIndex[Nickname.key(nickname)] = id
        return nickname
    }

    /// Renames a joined member; returns its old name.
    mutating func rename(_ id: ConnectionKey, to newName: String) -> Result<String, RenameError> {
        guard var member = members[id], let old = member.nickname else { return .failure(.invalid("not joined")) }
        if let problem = Nickname.problem(with: newName) { return .failure(.invalid(problem)) }
        if newName == old { return .failure(.alreadyNamed(newName)) }
        let newKey = Nickname.key(newName)
        if let holder = nicknameIndex[newKey], holder != id { return .failure(.taken(newName)) }
        nicknameIndex[Nickname.key(old)] = nil
        nicknameIndex[newKey] = id
        member.nickname = newName
        members[id] = member
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
        if let nickname = member.nickname { nicknameIndex[Nickname.key(nickname)] = nil }
        return member
    }

    /// The member named `nickname` (any case), if joined.
    func member(named nickname: String) -> Member? {
        nicknameIndex[Nickname.key(nickname)].flatMap { members[$0] }
    }

    /// A member's nickname, if it has joined.
    func nickname(of id: ConnectionKey) -> String? { members[id]?.nickname }

    /// Joined nicknames sorted ignoring case, at most `limit`.
    func sortedNicknames(limit: Int) -> [String] {
        nicknameIndex.sorted { $0.key < $1.key }.prefix(limit).compactMap { members[$0.value]?.nickname }
    }
}
