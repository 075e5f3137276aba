/// Makes untrusted bytes safe to show on someone else's terminal.
///
/// - Invalid UTF-8 becomes U+FFFD; it is never relayed raw.
/// - ANSI/VT escape sequences are removed whole: CSI (`ESC [` … final byte), OSC (`ESC ]` … BEL or ST),
///   DCS/SOS/PM/APC (`ESC P`, `ESC X`, `ESC ^`, `ESC _` … ST), two-byte `ESC x`, and their 8-bit C1 forms.
/// - Every other C0 control (0x00–0x1F, tab aside), DEL and C1 control (U+0080–U+009F) is removed.
/// - So are bidirectional controls and invisible characters, which can make a line render as something it is
///   not (an RLO can turn `<bob> …` text into what looks like another person's line): embeddings and overrides
///   U+202A–U+202E, isolates U+2066–U+2069, U+061C (Arabic letter mark), zero-width and direction marks
///   U+200B–U+200F, line and paragraph separators U+2028/U+2029, word joiner and invisible operators
///   U+2060–U+2064, U+FEFF (zero-width no-break space), and tag characters U+E0000–U+E007F.
///
/// ```
///   "hi \e[2J\e]0;pwned\a there\u{7}"  →  "hi  there"
/// ```
public enum TextSanitizer {
    /// Decodes and cleans `bytes`. Pure ASCII without controls (the common case) is decoded directly.
    public static func clean(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        return clean(String(decoding: bytes, as: UTF8.self))
    }

    private enum State {
        case text
        case escape  // after ESC
        case escapeIntermediate  // ESC followed by 0x20–0x2F bytes, waiting for the final byte
        case csi  // inside a control sequence, until a final byte 0x40–0x7E
        case string  // OSC/DCS/SOS/PM/APC body, until BEL or ST
        case stringEscape  // ESC inside a string: ST is ESC \
    }

    /// Cleans already-decoded text.
    public static func clean(_ text: String) -> String {
        var output = String.UnicodeScalarView()
        var state = State.text
        for scalar in text.unicodeScalars {
            let value = scalar.value
            switch state {
            case .text:
                switch value {
                case 0x1b: state = .escape
                case 0x9b: state = .csi
                case 0x90, 0x98, 0x9d, 0x9e, 0x9f: state = .string
                case 0x09: output.append(scalar)
                case 0x00..<0x20, 0x7f, 0x80..<0xa0: break
                case 0x061c, 0x200b...0x200f, 0x2028...0x202e, 0x2060...0x2064, 0x2066...0x2069, 0xfeff,
                    0xe0000...0xe007f:
                    break  // bidi controls and invisible characters
                default: output.append(scalar)
                }
            case .escape:
                switch value {
                case 0x5b: state = .csi  // [
                case 0x5d, 0x50, 0x58, 0x5e, 0x5f: state = .string  // ] P X ^ _
                case 0x20..<0x30: state = .escapeIntermediate
                case 0x1b: break  // ESC ESC: the second one starts the sequence
                default: state = .text  // ESC x: both dropped
                }
            case .escapeIntermediate:
                if value == 0x1b { state = .escape }  // an ESC aborts the sequence and starts a new one
                else if !(0x20..<0x30).contains(value) { state = .text }
            case .csi:
                if value == 0x1b { state = .escape }  // as terminals do; else "ESC [ ESC [31m" would leave "[31m"
                else if (0x40..<0x7f).contains(value) { state = .text }
                else if !(0x20..<0x40).contains(value) { state = .text }  // malformed: end it here
            case .string:
                if value == 0x07 || value == 0x9c { state = .text }
                else if value == 0x1b { state = .stringEscape }
            case .stringEscape:
                state = value == 0x5c ? .text : .string
            }
        }
        return String(output)
    }
}
