#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Recognises the tool's own lines when a server relays them back, in whatever prefix it uses.
///
/// ```
/// <guest3> BENCH 1 7 81234567890123\r
///          ^^^^^^ marker  ^ client ^ seq ^ send time (ns, CLOCK_MONOTONIC)
/// ```
enum BenchLineParser {
    /// What a received line is, as far as the counters care.
    enum Kind: Equatable {
        /// Not one of ours (notices, joins, anything else).
        case other
        /// Contains `BENCH `; the send time when the three numbers after it parse.
        case bench(sendTimeNs: UInt64?)
    }

    static func classify(_ line: UnsafeRawBufferPointer) -> Kind {
        guard let markerEnd = Self.endOfMarker(in: line) else { return .other }
        var index = markerEnd
        var value: UInt64 = 0
        // Fields: client, sequence, send time. Only the last one matters; all three must be there.
        for _ in 0..<3 {
            while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
            value = 0
            var digits = 0
            while index < line.count, line[index] >= UInt8(ascii: "0"), line[index] <= UInt8(ascii: "9") {
                value = value &* 10 &+ UInt64(line[index] &- UInt8(ascii: "0"))
                digits += 1
                index += 1
            }
            guard digits > 0 else { return .bench(sendTimeNs: nil) }
        }
        return .bench(sendTimeNs: value)
    }

    private static let marker: StaticString = "BENCH "

    /// Offset just past the first `BENCH ` in `line` (memchr for the `B`, memcmp for the rest;
    /// `memmem` is a GNU extension that Glibc's module does not export).
    private static func endOfMarker(in line: UnsafeRawBufferPointer) -> Int? {
        let length = Self.marker.utf8CodeUnitCount
        guard let base = line.baseAddress, line.count >= length else { return nil }
        var offset = 0
        while offset + length <= line.count {
            guard let found = memchr(base + offset, Int32(UInt8(ascii: "B")), line.count - length + 1 - offset) else {
                return nil
            }
            let position = base.distance(to: UnsafeRawPointer(found))
            if memcmp(found, Self.marker.utf8Start, length) == 0 { return position + length }
            offset = position + 1
        }
        return nil
    }
}
