import NIOCore
import SwitchboardDatabase
import SwitchboardModeration
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// The bans in force: which one holds for an address or a nickname, expiry, removal, and agreement with a
/// plain scan over 10 000 mixed bans.
final class BanListTests: XCTestCase {
    private let now = Timestamp(microsecondsSinceEpoch: 1_800_000_000_000_000)

    private func ban(_ target: String, reason: String = "", expires: Int64? = nil) throws -> Ban {
        Ban(target: try BanTarget(parsingAddress: target), reason: reason, setBy: "op", setAt: now,
            expiresAt: expires.map { Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + $0 * 1_000_000) })
    }

    private func address(_ text: String) throws -> SocketAddress { try SocketAddress(ipAddress: text, port: 4000) }

    func testAddressesBlocksAndSlash64s() throws {
        let list = BanList([try ban("10.1.2.3", reason: "host"), try ban("192.168.0.0/16", reason: "block"),
                            try ban("2001:db8:0:1::5", reason: "v6")])
        XCTAssertEqual(list.ban(address: try address("10.1.2.3"), at: now)?.reason, "host")
        XCTAssertNil(list.ban(address: try address("10.1.2.4"), at: now))
        XCTAssertEqual(list.ban(address: try address("192.168.44.1"), at: now)?.reason, "block")
        XCTAssertEqual(list.ban(address: try address("::ffff:192.168.44.1"), at: now)?.reason, "block",
                       "an IPv4 client on a dual-stack listener")
        XCTAssertEqual(list.ban(address: try address("2001:db8:0:1:ffff::1"), at: now)?.reason, "v6", "same /64")
        XCTAssertNil(list.ban(address: try address("2001:db8:0:2::5"), at: now), "the next /64")
        XCTAssertNil(list.ban(address: try SocketAddress(unixDomainSocketPath: "/tmp/a.sock"), at: now))
        XCTAssertNil(list.ban(address: nil, at: now))
    }

    /// The most specific block answers first, and a ban past its expiry no longer holds (a wider one may).
    func testMostSpecificFirstAndExpiry() throws {
        var list = BanList([try ban("10.0.0.0/8", reason: "wide"), try ban("10.9.9.9", reason: "narrow", expires: 60)])
        XCTAssertEqual(list.ban(address: try address("10.9.9.9"), at: now)?.reason, "narrow")
        let later = Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + 60_000_000)
        XCTAssertEqual(list.ban(address: try address("10.9.9.9"), at: later)?.reason, "wide", "expired at exactly 60 s")
        XCTAssertEqual(list.removeExpired(at: later).map(\.reason), ["narrow"])
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.remove(try BanTarget(parsingAddress: "10.0.0.0/8"))?.reason, "wide")
        XCTAssertNil(list.ban(address: try address("10.9.9.9"), at: now))
        XCTAssertNil(list.remove(try BanTarget(parsingAddress: "10.0.0.0/8")))
    }

    /// Nickname bans match the name ignoring case, whatever the address.
    func testNicknameBans() throws {
        var list = BanList()
        list.insert(Ban(target: .nickname("mallory"), reason: "name", setBy: "op", setAt: now, expiresAt: nil))
        XCTAssertEqual(list.ban(address: try address("10.0.0.1"), nickname: "MalLory", at: now)?.reason, "name")
        XCTAssertNil(list.ban(address: try address("10.0.0.1"), nickname: "alice", at: now))
        list.insert(Ban(target: .nickname("mallory"), reason: "again", setBy: "op", setAt: now, expiresAt: nil))
        XCTAssertEqual(list.count, 1, "a second ban on a target replaces the first")
        XCTAssertEqual(list.all.map(\.reason), ["again"])
    }

    /// 10 000 random bans (exact IPv4, IPv4 blocks, IPv6 /64s and other IPv6 blocks; some expired) give
    /// the same answer as checking every ban in turn, for 500 random addresses near and far from them (a scan
    /// per probe is the slow part of this test).
    func testAgreesWithAScanOverTenThousandBans() throws {
        var random = SplitMix64(seed: 22)
        var bans: [Ban] = []
        for index in 0..<10_000 {
            let expires: Timestamp? = index % 7 == 0
                ? Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + (index % 2 == 0 ? -1 : 1))
                : nil
            let range: IPAddressRange
            switch index % 4 {
            case 0: range = IPAddressRange(block: Self.v4(&random), prefixLength: 32)!
            case 1: range = IPAddressRange(block: Self.v4(&random), prefixLength: Int.random(in: 8...31, using: &random))!
            case 2: range = IPAddressRange(block: Self.v6(&random), prefixLength: 64)!
            default: range = IPAddressRange(block: Self.v6(&random), prefixLength: Int.random(in: 32...128, using: &random))!
            }
            bans.append(Ban(target: .network(range), reason: "\(index)", setBy: "op", setAt: now, expiresAt: expires))
        }
        let list = BanList(bans)
        let byTarget = Dictionary(bans.map { ($0.target, $0) }, uniquingKeysWith: { _, last in last })
        for probe in 0..<500 {
            let bytes: [UInt8]
            if probe % 2 == 0, let near = bans.randomElement(using: &random), case .network(let range) = near.target {
                bytes = range.network  // inside a banned block
            } else {
                bytes = probe % 4 == 1 ? Self.v4(&random) : Self.v6(&random)
            }
            let address = try SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: 1)
            let scanned = byTarget.values.filter { $0.target.covers(address) && $0.isActive(at: now) }
            let found = list.ban(address: address, at: now)
            XCTAssertEqual(found != nil, !scanned.isEmpty, "\(address)")
            if let found {
                let longest = scanned.map { ban -> Int in
                    guard case .network(let range) = ban.target else { return -1 }
                    return range.prefixLength
                }.max()
                guard case .network(let range) = found.target else { return XCTFail("not a network ban") }
                XCTAssertEqual(range.prefixLength, longest, "the most specific ban answers")
            }
        }
    }

    private static func v4(_ random: inout SplitMix64) -> [UInt8] {
        // Few distinct first bytes, so blocks and hosts overlap often.
        [UInt8.random(in: 10...12, using: &random)] + (0..<3).map { _ in UInt8.random(in: .min ... .max, using: &random) }
    }

    private static func v6(_ random: inout SplitMix64) -> [UInt8] {
        [0x20, 0x01, 0x0d, 0xb8] + (0..<12).map { _ in UInt8.random(in: 0...3, using: &random) }
    }
}
