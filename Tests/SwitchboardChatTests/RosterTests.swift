@testable import SwitchboardChat
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest
import SwitchboardHistory

/// ``Roster`` as a value: admission, guest names, renames, leaves, counts — no channels, no loop.
final class RosterTests: XCTestCase {
    private func admitted(_ roster: inout Roster, from address: String? = nil) throws -> ConnectionKey {
        try roster.admit(address: address).get()
    }

    /// Past the member limit a newcomer is refused as `server full`; a leave makes room again.
    func testServerFullAndRoomAfterALeave() throws {
        var roster = Roster(maximumMembers: 2, maximumPerAddress: 0)
        let first = try admitted(&roster)
        _ = try admitted(&roster)
        XCTAssertEqual(roster.admit(address: nil), .failure(.serverFull))
        roster.leave(first)
        XCTAssertNoThrow(try admitted(&roster))
        XCTAssertEqual(roster.totalVisits, 3, "refusals are not visits")
    }

    /// The per-address limit counts admitted members per address, and frees a place on leave.
    func testPerAddressLimit() throws {
        var roster = Roster(maximumMembers: 100, maximumPerAddress: 2)
        let a = try admitted(&roster, from: "192.0.2.1")
        _ = try admitted(&roster, from: "192.0.2.1")
        XCTAssertEqual(roster.admit(address: "192.0.2.1"), .failure(.tooManyFromAddress))
        XCTAssertNoThrow(try admitted(&roster, from: "192.0.2.2"), "other addresses are not affected")
        XCTAssertNoThrow(try admitted(&roster, from: nil), "Unix-socket clients have no address to count")
        roster.leave(a)
        XCTAssertNoThrow(try admitted(&roster, from: "192.0.2.1"))
    }

    /// A closed roster (shutdown) admits no one.
    func testClosedRosterRefusesEveryone() {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        roster.isClosed = true
        XCTAssertEqual(roster.admit(address: nil), .failure(.serverFull))
    }

    /// Guests are `guest<visitor>`, or `guest-<id>` without a visitor number; clashes get `-2`, `-3`.
    func testGuestNames() throws {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        let a = try admitted(&roster)
        let b = try admitted(&roster)
        let c = try admitted(&roster)
        let d = try admitted(&roster)
        XCTAssertEqual(roster.join(a, visitor: 42), "guest42")
        XCTAssertEqual(roster.join(b, visitor: nil), "guest-\(b.rawValue)")
        XCTAssertEqual(roster.rename(a, to: "guest7"), .success("guest42"))
        XCTAssertEqual(roster.join(c, visitor: 7), "guest7-2", "someone already took guest7")
        XCTAssertEqual(roster.join(d, visitor: 7), "guest7-3")
        XCTAssertNil(roster.join(a, visitor: 1), "joins once")
        XCTAssertEqual(roster.joinedCount, 4)
    }

    /// Renames: validity, case-insensitive uniqueness, the same name, and the freed old name.
    func testRenameRules() throws {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        let a = try admitted(&roster)
        let b = try admitted(&roster)
        _ = roster.join(a, visitor: 1)
        _ = roster.join(b, visitor: 2)
        XCTAssertEqual(roster.rename(a, to: "Alice"), .success("guest1"))
        XCTAssertEqual(roster.rename(b, to: "ALICE"), .failure(.taken("ALICE")))
        XCTAssertEqual(roster.rename(a, to: "Alice"), .failure(.alreadyNamed("Alice")))
        XCTAssertEqual(roster.rename(a, to: "alice"), .success("Alice"), "a change of case is a rename")
        guard case .failure(.invalid) = roster.rename(a, to: "bad name") else { return XCTFail("spaces are invalid") }
        XCTAssertEqual(roster.rename(b, to: "guest1"), .success("guest2"), "the old name is free again")
        XCTAssertEqual(roster.member(named: "ALICE")?.id, a)
        XCTAssertEqual(roster.sortedNicknames(limit: 10), ["alice", "guest1"])
    }

    /// A member that has not joined cannot be renamed and holds no name.
    func testAdmittedButNotJoinedHasNoName() throws {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        let a = try admitted(&roster)
        XCTAssertNil(roster.nickname(of: a))
        guard case .failure = roster.rename(a, to: "alice") else { return XCTFail("not joined yet") }
        XCTAssertEqual(roster.leave(a)?.nickname, nil)
        XCTAssertEqual(roster.joinedCount, 0)
    }

    /// Random sequences of admit, join, rename and leave keep every index consistent with the members:
    /// names unique ignoring case, the index pointing at the right member, address counts exact.
    func testRandomSequencesKeepTheIndexesConsistent() throws {
        for seed in UInt64(1)...200 {
            var random = SplitMix64(seed: seed)
            var roster = Roster(maximumMembers: 12, maximumPerAddress: 3)
            var live: [ConnectionKey] = []
            for step in 0..<200 {
                switch random.next() % 4 {
                case 0:
                    let address = random.next() % 5 == 0 ? nil : "192.0.2.\(random.next() % 4)"
                    if case .success(let id) = roster.admit(address: address) { live.append(id) }
                case 1 where !live.isEmpty:
                    _ = roster.join(live[Int(random.next() % UInt64(live.count))], visitor: Int64(random.next() % 6))
                case 2 where !live.isEmpty:
                    let names = ["alice", "Alice", "bob", "guest3", "guest3-2", "x", "bad name"]
                    _ = roster.rename(live[Int(random.next() % UInt64(live.count))],
                                      to: names[Int(random.next() % UInt64(names.count))])
                case 3 where !live.isEmpty:
                    roster.leave(live.remove(at: Int(random.next() % UInt64(live.count))))
                default:
                    break
                }
                assertConsistent(roster, live: live, "seed \(seed) step \(step)")
            }
        }
    }

    private func assertConsistent(_ roster: Roster, live: [ConnectionKey], _ context: String) {
        XCTAssertEqual(Set(roster.members.keys), Set(live), context)
        let named = roster.members.values.compactMap { member in member.nickname.map { (member.id, $0) } }
        XCTAssertEqual(roster.nicknameIndex.count, named.count, "one index entry per joined member: \(context)")
        for (id, nickname) in named {
            XCTAssertEqual(roster.nicknameIndex[Nickname.key(nickname)], id, context)
        }
        var counts: [String: Int] = [:]
        for member in roster.members.values { if let address = member.address { counts[address, default: 0] += 1 } }
        XCTAssertEqual(roster.addressCounts, counts, context)
        XCTAssertTrue(counts.values.allSatisfy { $0 <= 3 }, context)
        XCTAssertLessThanOrEqual(roster.count, 12, context)
    }
}
