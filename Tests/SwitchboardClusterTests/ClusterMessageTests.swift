@testable import SwitchboardCluster
import XCTest

/// ``ClusterMessage``: the payload between servers, as text — round trips, packing to the NOTIFY limit (and
/// beyond it for an event that does not fit one), snapshots in parts, and payloads that are not ours.
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

    /// A tick's events go in as few payloads as fit one NOTIFY (7999 bytes), numbered consecutively, nothing
    /// lost or reordered.
    func testPackingSplitsAtTheLimitAndKeepsOrder() throws {
        let events = (0..<500).map { ClusterEvent.said(member: UInt64($0), text: String(repeating: "x", count: 100) + "\($0)") }
        var sequence: UInt64 = 41
        let payloads = ClusterMessage.pack(events, origin: 2, nextSequence: &sequence)
        XCTAssertGreaterThan(payloads.count, 1)
        XCTAssertEqual(sequence, 41 + UInt64(payloads.count))
        var decoded: [ClusterEvent] = []
        for (index, payload) in payloads.enumerated() {
            XCTAssertLessThanOrEqual(payload.utf8.count, NotifyTransport.inlinePayloadLimit)
            let message = try XCTUnwrap(ClusterMessage(decoding: payload))
            XCTAssertEqual(message.sequence, 41 + UInt64(index))
            XCTAssertEqual(message.origin, 2)
            decoded += message.events
        }
        XCTAssertEqual(decoded, events)
    }

    /// An event too big for a NOTIFY (a 65536-byte line of U+FFFD: 196 608 bytes) goes in a payload of its
    /// own, between the payloads of the events around it, in order; nothing is dropped.
    func testAnEventTooBigForANotifyGoesInAPayloadOfItsOwn() throws {
        var sequence: UInt64 = 1
        let huge = String(repeating: "\u{FFFD}", count: 65_536)
        let events: [ClusterEvent] = [
            .said(member: 1, text: "before"), .said(member: 1, text: huge), .said(member: 2, text: "after"),
            .acted(member: 2, text: "waves"),
        ]
        let payloads = ClusterMessage.pack(events, origin: 1, nextSequence: &sequence)
        XCTAssertEqual(payloads.count, 3)
        XCTAssertEqual(sequence, 4)
        XCTAssertLessThanOrEqual(payloads[0].utf8.count, NotifyTransport.inlinePayloadLimit)
        XCTAssertGreaterThan(payloads[1].utf8.count, 196_608)
        XCTAssertLessThanOrEqual(payloads[2].utf8.count, NotifyTransport.inlinePayloadLimit)
        let decoded = try payloads.map { try XCTUnwrap(ClusterMessage(decoding: $0)) }
        XCTAssertEqual(decoded.map(\.sequence), [1, 2, 3])
        XCTAssertEqual(decoded.flatMap(\.events), events)
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
            XCTAssertLessThanOrEqual(payload.utf8.count, NotifyTransport.inlinePayloadLimit)
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
