@testable import SwitchboardChat
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest
import SwitchboardHistory
import SwitchboardCluster

/// The cluster side of ``Roster``: other servers' members count, are listed and hold their names; after a
/// split, the earlier claim keeps a name and a local loser takes its guest name.
final class ClusterRosterTests: XCTestCase {
    private func remote(_ server: Int64, _ member: UInt64, _ nickname: String, at time: Int64) -> RemoteMember {
        RemoteMember(id: RemoteMember.ID(server: server, member: member), nickname: nickname, claimedAt: time)
    }

    private func joined(_ roster: inout Roster, visitor: Int64, at time: Int64 = 0) throws -> ConnectionKey {
        let id = try roster.admit(address: nil).get()
        XCTAssertNotNil(roster.join(id, visitor: visitor, at: time))
        return id
    }

    /// Remote members count in every total, appear in /who, and their names are taken for local renames.
    func testRemoteMembersCountAreListedAndHoldTheirNames() throws {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        roster.localServer = 1
        let a = try joined(&roster, visitor: 1)
        XCTAssertNil(roster.placeRemote(remote(2, 7, "Bob", at: 5)))
        XCTAssertNil(roster.placeRemote(remote(3, 7, "carol", at: 5)))
        XCTAssertEqual(roster.joinedCount, 3)
        XCTAssertEqual(roster.localJoinedCount, 1)
        XCTAssertEqual(roster.sortedNicknames(limit: 10), ["Bob", "carol", "guest1"])
        XCTAssertEqual(roster.rename(a, to: "BOB", at: 9), .failure(.taken("BOB")))
        XCTAssertEqual(roster.remoteMember(named: "bob")?.id, RemoteMember.ID(server: 2, member: 7))
        XCTAssertEqual(roster.removeRemote(RemoteMember.ID(server: 2, member: 7))?.nickname, "Bob")
        XCTAssertEqual(roster.rename(a, to: "BOB", at: 9), .success("guest1"), "free once Bob left")
        XCTAssertEqual(roster.remoteServers, [3])
    }

    /// A remote member whose claim is earlier takes the name from a local member, who gets its guest name.
    func testAnEarlierRemoteClaimRenamesTheLocalHolderToItsGuestName() throws {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        roster.localServer = 1
        let a = try joined(&roster, visitor: 42)
        XCTAssertEqual(roster.rename(a, to: "alice", at: 200), .success("guest42"))
        let forced = roster.placeRemote(remote(2, 9, "Alice", at: 100))
        XCTAssertEqual(forced, Roster.ForcedRename(id: a, old: "alice", new: "guest42"))
        XCTAssertEqual(roster.remoteMember(named: "ALICE")?.id.server, 2)
        XCTAssertEqual(roster.nickname(of: a), "guest42")
    }

    /// A remote member whose claim is later is held (counted, listed) but does not get the name; when the
    /// local holder leaves, it does.
    func testALaterRemoteClaimWaitsUntilTheNameIsFree() throws {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        roster.localServer = 1
        let a = try joined(&roster, visitor: 1)
        _ = roster.rename(a, to: "alice", at: 100)
        XCTAssertNil(roster.placeRemote(remote(2, 9, "ALICE", at: 300)))
        XCTAssertEqual(roster.joinedCount, 2)
        XCTAssertNil(roster.remoteMember(named: "alice"), "the local claim is earlier")
        XCTAssertEqual(roster.member(named: "alice")?.id, a)
        roster.leave(a)
        XCTAssertEqual(roster.remoteMember(named: "alice")?.id.server, 2, "the waiting member takes the free name")
    }

    /// Claims at the same microsecond are settled by the lower server id, the same way on every server.
    func testEqualClaimTimesGoToTheLowerServer() throws {
        var roster = Roster(maximumMembers: 10, maximumPerAddress: 0)
        roster.localServer = 5
        let a = try joined(&roster, visitor: 1)
        _ = roster.rename(a, to: "dup", at: 100)
        XCTAssertNil(roster.placeRemote(remote(9, 1, "dup", at: 100)), "server 9 > 5: local keeps it")
        XCTAssertNotNil(roster.placeRemote(remote(3, 1, "dup", at: 100)), "server 3 < 5: local loses it")
        XCTAssertEqual(roster.remoteMember(named: "dup")?.id.server, 3)
    }

    /// Random sequences of local and remote joins, renames and leaves keep the indexes consistent: no name
    /// indexed twice, every member counted once, each name held by its earliest claim.
    func testRandomClusterSequencesKeepTheIndexesConsistent() throws {
        let names = ["alice", "Alice", "bob", "guest1", "x"]
        for seed in UInt64(1)...200 {
            var random = SplitMix64(seed: seed)
            var roster = Roster(maximumMembers: 20, maximumPerAddress: 0)
            roster.localServer = 2
            var live: [ConnectionKey] = []
            var time: Int64 = 0
            for step in 0..<150 {
                time += Int64(random.next() % 3)  // equal times happen
                let context = "seed \(seed) step \(step)"
                switch random.next() % 6 {
                case 0:
                    if case .success(let id) = roster.admit(address: nil) {
                        live.append(id)
                        _ = roster.join(id, visitor: Int64(random.next() % 4), at: time)
                    }
                case 1 where !live.isEmpty:
                    _ = roster.rename(live[Int(random.next() % UInt64(live.count))],
                                      to: names[Int(random.next() % UInt64(names.count))], at: time)
                case 2 where !live.isEmpty:
                    roster.leave(live.remove(at: Int(random.next() % UInt64(live.count))))
                case 3, 4:
                    let server = [Int64(1), 3][Int(random.next() % 2)]
                    _ = roster.placeRemote(remote(server, random.next() % 5, names[Int(random.next() % UInt64(names.count))],
                                                  at: time - Int64(random.next() % 5)))
                case 5:
                    roster.removeRemote(RemoteMember.ID(server: [Int64(1), 3][Int(random.next() % 2)], member: random.next() % 5))
                default:
                    break
                }
                assertConsistent(roster, context)
            }
        }
    }

    private func assertConsistent(_ roster: Roster, _ context: String) {
        let local = roster.members.values.compactMap { member in member.nickname.map { (member, Nickname.key($0)) } }
        XCTAssertEqual(roster.nicknameIndex.count, local.count, "every joined local member indexed: \(context)")
        XCTAssertEqual(roster.joinedCount, local.count + roster.remote.count, context)
        for key in roster.remoteNicknames.keys {
            XCTAssertNil(roster.nicknameIndex[key], "a name indexed twice: \(key) \(context)")
        }
        for (key, id) in roster.remoteNicknames {
            XCTAssertEqual(roster.remote[id].map { Nickname.key($0.nickname) }, key, context)
        }
        // Every remote member is indexed, or waits behind a holder whose claim is earlier.
        for member in roster.remote.values {
            let key = Nickname.key(member.nickname)
            if roster.remoteNicknames[key] == member.id { continue }
            let mine = NameClaim(claimedAt: member.claimedAt, server: member.id.server, member: member.id.member)
            if let holderID = roster.remoteNicknames[key], let holder = roster.remote[holderID] {
                XCTAssertLessThan(NameClaim(claimedAt: holder.claimedAt, server: holder.id.server, member: holder.id.member), mine, context)
            } else if let localID = roster.nicknameIndex[key], let holder = roster.members[localID] {
                XCTAssertLessThan(NameClaim(claimedAt: holder.claimedAt, server: roster.localServer, member: holder.id.rawValue), mine, context)
            } else {
                XCTFail("\(member) waits for a free name: \(context)")
            }
        }
    }
}
