#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time with microsecond precision, stored in both databases as ISO 8601 UTC text
/// (`2026-11-25T15:13:59.123456Z`): it sorts as text in SQLite, and PostgreSQL reads it into `timestamptz`.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// The current wall-clock time.
    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(microsecondsSinceEpoch: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    /// The UTC calendar date and time, computed (days to civil date, H. Hinnant's algorithm) rather than asked
    /// of `gmtime_r`, which takes the C library's time zone lock: every chat line's timestamp is formatted on a
    /// pool thread.
    private var civil: (year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, micros: Int64) {
        let seconds = microsecondsSinceEpoch.floorDiv(1_000_000)
        let micros = microsecondsSinceEpoch - seconds * 1_000_000
        let days = seconds.floorDiv(86_400)
        let secondOfDay = seconds - days * 86_400
        let shifted = days + 719_468  // days since 0000-03-01
        let era = shifted.floorDiv(146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (
            yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, dayOfYear - (153 * monthFromMarch + 2) / 5 + 1,
            secondOfDay / 3600, secondOfDay % 3600 / 60, secondOfDay % 60, micros
        )
    }

    /// `2026-11-25T15:13:59.123456Z`: the storage and JSON form.
    /// Every stored chat line's time is formatted on a pool thread, so the common case (a four-digit year)
    /// writes its digits straight into the string, without the field list ``format(_:)`` takes.
    public var iso8601: String {
        let t = civil
        guard (0...9999).contains(t.year) else {
            return format([
                (t.year, 4, ascii("-")), (t.month, 2, ascii("-")), (t.day, 2, ascii("T")), (t.hour, 2, ascii(":")),
                (t.minute, 2, ascii(":")), (t.second, 2, ascii(".")), (t.micros, 6, ascii("Z")),
            ])
        }
        return String(unsafeUninitializedCapacity: 27) { out in
            func put(_ value: Int64, _ width: Int, at start: Int, then separator: UInt8) {
                var value = value
                for position in stride(from: start + width - 1, through: start, by: -1) {
                    out[position] = UInt8(truncatingIfNeeded: 48 + value % 10)
                    value /= 10
                }
                out[start + width] = separator
            }
            put(t.year, 4, at: 0, then: UInt8(ascii: "-"))
            put(t.month, 2, at: 5, then: UInt8(ascii: "-"))
            put(t.day, 2, at: 8, then: UInt8(ascii: "T"))
            put(t.hour, 2, at: 11, then: UInt8(ascii: ":"))
            put(t.minute, 2, at: 14, then: UInt8(ascii: ":"))
            put(t.second, 2, at: 17, then: UInt8(ascii: "."))
            put(t.micros, 6, at: 20, then: UInt8(ascii: "Z"))
            return 27
        }
    }

    /// `2026-11-25 15:13:59`: what chat users see (always UTC).
    public var displayString: String {
        let t = civil
        return format([
            (t.year, 4, ascii("-")), (t.month, 2, ascii("-")), (t.day, 2, ascii(" ")), (t.hour, 2, ascii(":")),
            (t.minute, 2, ascii(":")), (t.second, 2, nil),
        ])
    }

    /// Zero-padded fields, each followed by its separator (if any), written straight into the string's storage
    /// (string interpolation of seven padded numbers cost more than the database insert it was for).
    private func format(_ fields: [(value: Int64, width: Int, separator: UInt8?)]) -> String {
        guard (0...9999).contains(fields[0].value) else {
            // A year of more than four digits, or before year 0: rare enough for the general path.
            return fields.map { field in
                pad(field.value, field.width) + (field.separator.map { String(UnicodeScalar($0)) } ?? "")
            }.joined()
        }
        let length = fields.reduce(0) { $0 + $1.width + ($1.separator == nil ? 0 : 1) }
        return String(unsafeUninitializedCapacity: length) { out in
            var index = 0
            for field in fields {
                var value = field.value
                for position in stride(from: index + field.width - 1, through: index, by: -1) {
                    out[position] = UInt8(48 + value % 10)
                    value /= 10
                }
                index += field.width
                if let separator = field.separator {
                    out[index] = separator
                    index += 1
                }
            }
            return index
        }
    }

    public var description: String { iso8601 }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (a space instead of `T` and a `+00` / `+00:00` zone are
    /// accepted too). Returns `nil` for anything else.
    public init?(iso8601 text: String) {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 19,
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        var index = 19
        var micros = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 6 { micros = micros * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            for _ in digits..<max(digits, 6) { micros *= 10 }
        }
        let zone = String(decoding: bytes[index...], as: UTF8.self)
        guard ["Z", "", "+00", "+00:00"].contains(zone) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        self.microsecondsSinceEpoch = Int64(seconds) * 1_000_000 + Int64(micros)
    }
}

private func ascii(_ character: Unicode.Scalar) -> UInt8? { UInt8(character.value) }

private func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

extension Int64 {
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
