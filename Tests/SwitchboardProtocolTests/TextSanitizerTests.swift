import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// `TextSanitizer`: what reaches another person's terminal is valid Unicode with no controls and no escape sequences.
final class TextSanitizerTests: XCTestCase {
    /// Plain printable ASCII comes through unchanged, from bytes and from text.
    func testPlainASCIIIsUnchanged() {
        let text = "Hello, world! 1 + 1 = 2 ~ {braces} [brackets] <alice> /me `tick` \"quoted\" \\ back"
        XCTAssertEqual(TextSanitizer.clean(Array(text.utf8)), text)
        XCTAssertEqual(TextSanitizer.clean(text), text)
        XCTAssertEqual(TextSanitizer.clean([UInt8]()), "")
        XCTAssertEqual(TextSanitizer.clean(""), "")
    }

    /// Invalid UTF-8 becomes U+FFFD, never raw bytes; valid neighbours are kept.
    func testInvalidUTF8BecomesTheReplacementCharacter() {
        XCTAssertEqual(TextSanitizer.clean([0x61, 0xff, 0x62]), "a\u{FFFD}b")
        XCTAssertEqual(TextSanitizer.clean([0x61, 0x80]), "a\u{FFFD}")  // lone continuation byte
        XCTAssertEqual(TextSanitizer.clean([0x61, 0xe2, 0x82]), "a\u{FFFD}")  // truncated sequence
        XCTAssertEqual(TextSanitizer.clean([0xc3, 0x28]), "\u{FFFD}(")
        for bytes: [UInt8] in [[0xff], [0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3]] {
            let cleaned = TextSanitizer.clean(bytes)
            XCTAssertFalse(cleaned.isEmpty, "\(bytes)")
            XCTAssertTrue(cleaned.unicodeScalars.allSatisfy { $0 == "\u{FFFD}" }, "\(bytes) gave \(cleaned.debugDescription)")
        }
    }

    /// An overlong encoding of `/` or ESC is not decoded into the character it disguises.
    func testOverlongEncodingsDoNotSmuggleCharacters() {
        XCTAssertFalse(TextSanitizer.clean([0xc0, 0xaf]).contains("/"))
        XCTAssertFalse(TextSanitizer.clean([0xc0, 0x9b, 0x5b, 0x32, 0x4a]).unicodeScalars.contains("\u{1B}"))
    }

    /// Valid multi-byte UTF-8 decodes to its characters.
    func testValidUTF8IsDecoded() {
        XCTAssertEqual(TextSanitizer.clean(Array("héllo wörld ✓".utf8)), "héllo wörld ✓")
    }

    /// CSI sequences (clear screen, colours, hide cursor, cursor moves) are removed whole.
    func testCSISequencesAreRemovedWhole() {
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}[2Jb"), "ab")
        XCTAssertEqual(TextSanitizer.clean("\u{1B}[31;1mred\u{1B}[0m"), "red")
        XCTAssertEqual(TextSanitizer.clean("x\u{1B}[?25ly"), "xy")
        XCTAssertEqual(TextSanitizer.clean("\u{1B}[38;5;196mhot\u{1B}[m"), "hot")
        XCTAssertEqual(TextSanitizer.clean("\u{1B}[H\u{1B}[10;20Hmoved"), "moved")
        XCTAssertEqual(TextSanitizer.clean(Array("before\u{1B}[2J\u{1B}[3Jafter".utf8)), "beforeafter")
    }

    /// OSC sequences ended by BEL (set title) or by ST `ESC \` (hyperlinks) are removed whole.
    func testOSCSequencesAreRemovedWhole() {
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}]0;pwned title\u{07}b"), "ab")
        XCTAssertEqual(TextSanitizer.clean("\u{1B}]8;;https://evil.example/\u{1B}\\click\u{1B}]8;;\u{1B}\\"), "click")
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}]52;c;ZXZpbA==\u{07}b"), "ab")  // clipboard write
    }

    /// DCS, SOS, PM and APC strings are removed whole up to ST.
    func testDeviceControlAndPrivacyStringsAreRemovedWhole() {
        for introducer in ["P", "X", "^", "_"] {
            XCTAssertEqual(TextSanitizer.clean("a\u{1B}\(introducer)payload;1;2\u{1B}\\b"), "ab", introducer)
        }
    }

    /// The 8-bit C1 forms (CSI U+009B, OSC U+009D, DCS U+0090, ST U+009C) are removed with their sequences.
    func testEightBitC1SequencesAreRemoved() {
        XCTAssertEqual(TextSanitizer.clean("a\u{9B}31mb"), "ab")
        XCTAssertEqual(TextSanitizer.clean("a\u{9B}2Jb"), "ab")
        XCTAssertEqual(TextSanitizer.clean("a\u{9D}0;title\u{9C}b"), "ab")
        XCTAssertEqual(TextSanitizer.clean("a\u{90}data\u{9C}b"), "ab")
        XCTAssertEqual(TextSanitizer.clean(Array("a\u{9B}2Jb".utf8)), "ab")
    }

    /// Two-byte escapes (reset, save/restore cursor, reverse index) and charset designations are removed.
    func testShortEscapesAreRemoved() {
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}cb"), "ab")  // RIS: full terminal reset
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}7b\u{1B}8c"), "abc")
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}Mb"), "ab")
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}(0b\u{1B}(Bc"), "abc")  // line-drawing charset on and off
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}#8b"), "ab")  // DECALN: fill the screen with E
    }

    /// An ESC inside an unfinished escape sequence starts a new sequence, so nested escapes leave nothing behind.
    func testEscapeInsideASequenceStartsANewOne() {
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}[\u{1B}[31mb"), "ab")
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}\u{1B}[2Jb"), "ab")
        XCTAssertEqual(TextSanitizer.clean("a\u{1B}(\u{1B}[2Jb"), "ab")
    }

    /// C0 controls (NUL, BEL, backspace, CR, LF, VT, FF, 0x1F) are removed; tab is kept.
    func testC0ControlsAreRemovedButTabIsKept() {
        XCTAssertEqual(TextSanitizer.clean("a\u{0}b\u{7}c\u{8}d\re\nf\u{B}g\u{C}h\u{1F}i"), "abcdefghi")
        XCTAssertEqual(TextSanitizer.clean("col1\tcol2"), "col1\tcol2")
        XCTAssertEqual(TextSanitizer.clean([0x61, 0x00, 0x09, 0x08, 0x62]), "a\tb")
        let everyC0 = (0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }
        XCTAssertEqual(TextSanitizer.clean(String(everyC0.filter { $0 != "\u{1B}" })), "\t")
    }

    /// DEL (0x7F) is removed.
    func testDELIsRemoved() {
        XCTAssertEqual(TextSanitizer.clean("ab\u{7F}c"), "abc")
        XCTAssertEqual(TextSanitizer.clean([0x61, 0x7f, 0x62]), "ab")
    }

    /// Other C1 controls (U+0080–U+009F, e.g. NEL) are removed; U+00A0 and above are text.
    func testOtherC1ControlsAreRemoved() {
        XCTAssertEqual(TextSanitizer.clean("a\u{80}b\u{85}c\u{8D}d\u{9F}"), "abcd")
        XCTAssertEqual(TextSanitizer.clean("a\u{A0}b"), "a\u{A0}b")
    }

    /// Emoji (with skin tones, variation selectors and flags) and non-Latin scripts, right-to-left ones
    /// included, are kept exactly.
    func testEmojiAndNonLatinTextAreKept() {
        let text = "héllo 你好 こんにちは Привет مرحبا שלום नमस्ते 👋🏽 ❤\u{FE0F} 🇳🇿"
        XCTAssertEqual(TextSanitizer.clean(text), text)
        XCTAssertEqual(TextSanitizer.clean(Array(text.utf8)), text)
    }

    /// The price of stripping every zero-width character: a ZWJ emoji sequence falls apart into its members, and a
    /// subdivision flag (tag characters) into a plain black flag. Still visible, never hidden.
    func testZeroWidthJoinerAndTagSequencesLoseTheirInvisibleParts() {
        XCTAssertEqual(TextSanitizer.clean("👨\u{200D}👩\u{200D}👧"), "👨👩👧")
        XCTAssertEqual(TextSanitizer.clean("🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}"), "🏴")
    }

    // MARK: bidirectional and invisible characters

    /// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the Arabic letter mark
    /// U+061C are removed, from bytes and from text.
    func testBidirectionalControlsAreRemoved() {
        let scalars: [UInt32] = Array(0x202A...0x202E) + Array(0x2066...0x2069) + [0x061C]
        for value in scalars {
            let text = "a\(Character(Unicode.Scalar(value)!))b"
            XCTAssertEqual(TextSanitizer.clean(text), "ab", String(value, radix: 16))
            XCTAssertEqual(TextSanitizer.clean(Array(text.utf8)), "ab", String(value, radix: 16))
        }
    }

    /// Invisible characters are removed: zero-width space, joiners and direction marks (U+200B–U+200F), line and
    /// paragraph separators (U+2028, U+2029), word joiner and invisible operators (U+2060–U+2064), U+FEFF, and the
    /// tag characters U+E0000–U+E007F.
    func testInvisibleCharactersAreRemoved() {
        let scalars: [UInt32] = Array(0x200B...0x200F) + [0x2028, 0x2029] + Array(0x2060...0x2064) + [0xFEFF]
            + Array(0xE0000...0xE007F).filter { Unicode.Scalar($0) != nil }
        for value in scalars {
            let text = "a\(Character(Unicode.Scalar(value)!))b"
            XCTAssertEqual(TextSanitizer.clean(text), "ab", String(value, radix: 16))
            XCTAssertEqual(TextSanitizer.clean(Array(text.utf8)), "ab", String(value, radix: 16))
        }
        XCTAssertEqual(TextSanitizer.clean(Array("\u{FEFF}hello".utf8)), "hello")  // a byte-order mark
    }

    /// The characters just outside each stripped range are ordinary text and are kept.
    func testNeighboursOfTheStrippedRangesAreKept() {
        for value: UInt32 in [0x061B, 0x061D, 0x200A, 0x2010, 0x2027, 0x202F, 0x205F, 0x206A, 0xFEFC, 0xFE0F, 0xE0100] {
            let text = "a\(Character(Unicode.Scalar(value)!))b"
            XCTAssertEqual(TextSanitizer.clean(text), text, String(value, radix: 16))
        }
    }

    /// A right-to-left override, isolate or line separator cannot make text render as another person's line: what
    /// is left shows in the order it was typed, on the sender's own line.
    func testBidiTricksCannotMakeALineRenderAsSomeoneElses() {
        // bob sends this; with the RLO intact, "<bob> " is followed by what renders as "<alice> hi".
        XCTAssertEqual(TextSanitizer.clean("\u{202E}ih >ecila<"), "ih >ecila<")
        XCTAssertEqual(TextSanitizer.clean("\u{2067}ih >ecila<\u{2069}"), "ih >ecila<")
        XCTAssertEqual(TextSanitizer.clean("\u{202B}\u{202E}ih >ecila<\u{202C}\u{202C}"), "ih >ecila<")
        // A separator some renderers break on: the fake line stays on bob's line.
        XCTAssertEqual(TextSanitizer.clean("ok\u{2028}<alice> send me your password"), "ok<alice> send me your password")
        // Zero-width padding cannot hide a command or a name behind invisible characters either.
        XCTAssertEqual(TextSanitizer.clean("a\u{200B}l\u{2060}i\u{FEFF}ce"), "alice")
    }


    /// An ESC or unfinished sequence at the very end of the input does not crash and leaves nothing behind.
    func testUnfinishedSequenceAtTheEndIsDropped() {
        XCTAssertEqual(TextSanitizer.clean("abc\u{1B}"), "abc")
        XCTAssertEqual(TextSanitizer.clean("abc\u{1B}["), "abc")
        XCTAssertEqual(TextSanitizer.clean("abc\u{1B}[31;"), "abc")
        XCTAssertEqual(TextSanitizer.clean("abc\u{1B}]0;title"), "abc")
        XCTAssertEqual(TextSanitizer.clean("abc\u{1B}]0;title\u{1B}"), "abc")
        XCTAssertEqual(TextSanitizer.clean("abc\u{1B}("), "abc")
        XCTAssertEqual(TextSanitizer.clean("\u{9B}"), "")
        XCTAssertEqual(TextSanitizer.clean([0x1b]), "")
    }

    /// The example in the type's doc comment holds.
    func testDocCommentExample() {
        XCTAssertEqual(TextSanitizer.clean("hi \u{1B}[2J\u{1B}]0;pwned\u{07} there\u{7}"), "hi  there")
    }

    /// Cleaning is idempotent: cleaning clean text changes nothing.
    func testCleaningTwiceChangesNothing() {
        var generator = SplitMix64(seed: 0x1D)
        for _ in 0..<500 {
            let once = TextSanitizer.clean(randomHostileBytes(using: &generator))
            XCTAssertEqual(TextSanitizer.clean(once), once)
        }
    }

    /// Whatever bytes come in, the output holds no C0 control but tab, no DEL, no C1 control, no ESC, and no
    /// bidirectional or invisible character.
    func testRandomBytesNeverYieldControlCharacters() {
        var generator = SplitMix64(seed: 0x5A17)
        for _ in 0..<2_000 {
            let bytes = randomHostileBytes(using: &generator)
            let cleaned = TextSanitizer.clean(bytes)
            let bad = cleaned.unicodeScalars.first { scalar in
                (scalar.value < 0x20 && scalar != "\t") || (0x7f...0x9f).contains(scalar.value)
                    || Self.bidiOrInvisible.contains(scalar.value)
            }
            XCTAssertNil(bad, "\(bytes) gave \(cleaned.debugDescription)")
            if bad != nil { return }
        }
    }

    // MARK: helpers

    private static let bidiOrInvisible: Set<UInt32> = Set(
        Array(0x202A...0x202E) + Array(0x2066...0x2069) + Array(0x200B...0x200F) + [0x2028, 0x2029]
            + Array(0x2060...0x2064) + [0xFEFF, 0x061C] + Array(0xE0000...0xE007F))

    /// Bytes biased toward escapes, controls, C1 in UTF-8 form, bidi and invisible characters, and invalid sequences.
    private func randomHostileBytes(using generator: inout SplitMix64) -> [UInt8] {
        let pieces: [[UInt8]] = [[0x1b], [0x1b, 0x5b], [0x1b, 0x5d], [0x07], [0x1b, 0x5c], [0xc2, 0x9b], [0xc2, 0x9c],
                                 [0xc2, 0x9d], [0xc2, 0x85], [0x7f], [0x09], [0x00], [0x0d], [0x61], [0x31, 0x3b],
                                 [0x6d], [0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x91, 0x8b],
                                 Array("\u{202E}".utf8), Array("\u{2066}".utf8), Array("\u{200D}".utf8),
                                 Array("\u{FEFF}".utf8), Array("\u{E0041}".utf8), Array("\u{061C}".utf8)]
        var bytes: [UInt8] = []
        for _ in 0..<Int.random(in: 0...30, using: &generator) {
            if Bool.random(using: &generator) {
                bytes += pieces.randomElement(using: &generator)!
            } else {
                bytes.append(UInt8.random(in: 0...255, using: &generator))
            }
        }
        return bytes
    }
}
