@testable import SwitchboardChat
import XCTest

/// ``ClusterMessage``: the NOTIFY payload between servers, as text — round trips, packing under the
/// 8000-byte limit, snapshots in parts, and payloads that are not ours.
final class ClusterMessageTests: XCTestCase {
    private let everyKind: [ClusterEvent] = [
        .joined(member: 1, visitor: 42, claimedAt: 1_700_000_000_000_000, nickname: "guest42"),
        .left(member: 1, reason: "quit: see you, all"),
        .left(member: 2, reason: ""),
        .renamed(member: 3, claimedAt: 5, nickname: "Alice_-9"),
        .said(member: 3, text: "hello  there: <b> é 🎉 \\ ' \""),
        .said(member: 3, text: ""),
        .acted(member: 4, text: "waves"),
        .privateMessage(from: 4, toServer: 9, to: 12, text: "psst P 1 2 3"),
        .wantSnapshot(server: 0),
        .wantSnapshot(server: 7),
    ]

    /// Every event survives encoding and decoding, in order, with spaces and any text in its last field.
    func testEveryEventRoundTrips() throws {
        let message = ClusterMessage(origin: 3, sequence: 17, kind: .events, events: everyKind)
        XCTAssertEqual(ClusterMessage(decoding: message.encoded), message)
        let snapshot = ClusterMessage(origin: 3, sequence: 18, kind: .snapshot(part: 2, parts: 3), events: [everyKind[0]])
        XCTAssertEqual(ClusterMessage(decoding: snapshot.encoded), snapshot)
    }

    /// Payloads from other programs on the channel, or damaged ones, are refused rather than half-applied.
    func testForeignOrDamagedPayloadsAreRefused() {
        for payload in [
            "", "hello", "sb1 x 1 e", "sb1 1 x e", "sb2 1 1 e", "sb1 1 1 q", "sb1 1 1 s 3 2", "sb1 1 1 s 0 2",
            "sb1 1 1 e\nJ 1 2 bad name", "sb1 1 1 e\nJ 1 2", "sb1 1 1 e\nZ 1 x", "sb1 1 1 e\nS x hi", "sb1 1 1 e\nS 1",
            "sb1 1 1 e\nP 1 2 hi", "sb1 1 1 e\nW", "sb1 1 1 e\n",
        ] {
            XCTAssertNil(ClusterMessage(decoding: payload), payload)
        }
    }

    /// A tick's events go in as few payloads as fit 7900 bytes, numbered consecutively, nothing lost or
    /// reordered.
    func testPackingSplitsAtTheLimitAndKeepsOrder() throws {
        let events = (0..<500).map { ClusterEvent.said(member: UInt64($0), text: String(repeating: "x", count: 100) + "\($0)") }
        var sequence: UInt64 = 41
        var oversized = 0
        let payloads = ClusterMessage.pack(events, origin: 2, nextSequence: &sequence, oversized: &oversized)
        XCTAssertGreaterThan(payloads.count, 1)
        XCTAssertEqual(sequence, 41 + UInt64(payloads.count))
        XCTAssertEqual(oversized, 0)
        var decoded: [ClusterEvent] = []
        for (index, payload) in payloads.enumerated() {
            XCTAssertLessThanOrEqual(payload.utf8.count, ClusterMessage.maximumPayloadBytes)
            let message = try XCTUnwrap(ClusterMessage(decoding: payload))
            XCTAssertEqual(message.sequence, 41 + UInt64(index))
            XCTAssertEqual(message.origin, 2)
            decoded += message.events
        }
        XCTAssertEqual(decoded, events)
    }

    /// One event too big for any payload is dropped and counted, and the others still go.
    func testAnEventTooBigForAPayloadIsCountedNotSent() throws {
        var sequence: UInt64 = 1
        var oversized = 0
        let payloads = ClusterMessage.pack(
            [.said(member: 1, text: String(repeating: "é", count: 4_000)), .said(member: 1, text: "fits")],
            origin: 1, nextSequence: &sequence, oversized: &oversized)
        XCTAssertEqual(oversized, 1)
        XCTAssertEqual(payloads.count, 1)
        XCTAssertEqual(ClusterMessage(decoding: payloads[0])?.events, [.said(member: 1, text: "fits")])
    }

    /// A roster snapshot of thousands of members arrives in numbered parts that say how many there are; an
    /// empty roster is one empty part (it still replaces what the others held).
    func testSnapshotsComeInNumberedParts() throws {
        let members = (0..<3_000).map { ClusterEvent.joined(member: UInt64($0), visitor: Int64($0), claimedAt: Int64($0), nickname: "guest\($0)") }
        var sequence: UInt64 = 10
        let payloads = ClusterMessage.snapshot(members, origin: 5, nextSequence: &sequence)
        XCTAssertGreaterThan(payloads.count, 1)
        var collected: [ClusterEvent] = []
        for (index, payload) in payloads.enumerated() {
            XCTAssertLessThanOrEqual(payload.utf8.count, ClusterMessage.maximumPayloadBytes)
            let message = try XCTUnwrap(ClusterMessage(decoding: payload))
            XCTAssertEqual(message.kind, .snapshot(part: index + 1, parts: payloads.count))
            collected += message.events
        }
        XCTAssertEqual(collected, members)
        var emptySequence: UInt64 = 1
        let empty = ClusterMessage.snapshot([], origin: 5, nextSequence: &emptySequence)
        XCTAssertEqual(empty.count, 1)
        XCTAssertEqual(ClusterMessage(decoding: empty[0])?.kind, .snapshot(part: 1, parts: 1))
    }
}
