import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// `TelnetLineParser`: terminators, telnet commands (negotiation answers, line editing, AYT), the hard line limit,
/// and independence from how the input is split into feeds (in the manner of swift-nio-extras'
/// `LineBasedFrameDecoderTest`).
final class TelnetLineParserTests: XCTestCase {
    private typealias Event = TelnetLineParser.Event

    private static let iac: UInt8 = 255
    private static let se: UInt8 = 240
    private static let nop: UInt8 = 241
    private static let sb: UInt8 = 250
    private static let will: UInt8 = 251
    private static let wont: UInt8 = 252
    private static let `do`: UInt8 = 253
    private static let dont: UInt8 = 254
    private static let ip: UInt8 = 244
    private static let ao: UInt8 = 245
    private static let ayt: UInt8 = 246
    private static let ec: UInt8 = 247
    private static let el: UInt8 = 248
    private static let timingMark: UInt8 = 6

    // Captured from inetutils telnet 2.4 (Debian 12) against a recording TCP server, driven under tmux.
    /// Ctrl-C in the default line mode: `IAC IP IAC DO TIMING-MARK`. Telnet then discards all output until the
    /// server answers the mark; the tty has already thrown away the partial line, so no data precedes it.
    private static let capturedCtrlC: [UInt8] = [0xff, 0xf4, 0xff, 0xfd, 0x06]
    /// `send ayt`, `send ec`, `send el`, `send ao` at the `telnet>` escape prompt.
    private static let capturedAYT: [UInt8] = [0xff, 0xf6]
    private static let capturedEC: [UInt8] = [0xff, 0xf7]
    private static let capturedEL: [UInt8] = [0xff, 0xf8]
    private static let capturedAO: [UInt8] = [0xff, 0xf5]
    /// `mode character`: `IAC DO SUPPRESS-GO-AHEAD IAC DO ECHO`. Refused, telnet stays in line mode.
    private static let capturedModeCharacter: [UInt8] = [0xff, 0xfd, 0x03, 0xff, 0xfd, 0x01]

    // MARK: terminators

    /// CRLF ends a line and is not part of it.
    func testCRLFEndsALine() {
        XCTAssertEqual(events("hello\r\nworld\r\n"), [line("hello"), line("world")])
    }

    /// A line holds its own bytes, not the parser's buffer: after a long line, a short one is a small array.
    /// Queued input is bounded by its length, so a bigger array per line multiplied the memory a flooding
    /// client could hold (120 clients flooding 211-byte lines: 210 MB peak before, 63 MB after).
    func testAShortLineAfterALongOneHoldsOnlyItsOwnBytes() {
        var parser = TelnetLineParser(maximumLineLength: 4096)
        let long = String(repeating: "x", count: 4000)
        XCTAssertEqual(parser.feed(bytes(long + "\r\nhi\r\n")), [line(long), line("hi")])
        guard case .line(let short)? = parser.feed(bytes("yo\r\n")).first else { return XCTFail("no line") }
        XCTAssertEqual(short, bytes("yo"))
        XCTAssertLessThan(short.capacity, 64, "the line must not keep the 4000-byte buffer's capacity")
    }

    /// A bare LF ends a line.
    func testBareLFEndsALine() {
        XCTAssertEqual(events("hello\nworld\n"), [line("hello"), line("world")])
    }

    /// Telnet's CR NUL ends a line, and the NUL is swallowed rather than starting the next line.
    func testCRNULEndsALineAndTheNULIsSwallowed() {
        XCTAssertEqual(events("a\r\0b\r\0"), [line("a"), line("b")])
    }

    /// A lone CR ends a line, and the data byte after it starts the next line intact.
    func testLoneCRFollowedByDataEndsALineAndKeepsTheData() {
        XCTAssertEqual(events("first\rsecond\n"), [line("first"), line("second")])
    }

    /// CR CR LF is a lone CR then a CRLF: the line, then an empty line.
    func testCRCRLFIsALineThenAnEmptyLine() {
        XCTAssertEqual(events("a\r\r\n"), [line("a"), line("")])
    }

    /// A line is emitted as soon as its CR arrives; an LF starting the next feed is swallowed, not a second line.
    func testCRAtTheEndOfOneFeedAndLFAtTheStartOfTheNextMakeOneTerminator() {
        var parser = TelnetLineParser(maximumLineLength: 64)
        XCTAssertEqual(parser.feed(bytes("abc\r")), [line("abc")])
        XCTAssertEqual(parser.feed(bytes("\ndef\r")), [line("def")])
        XCTAssertEqual(parser.feed(bytes("\0")), [])
        XCTAssertEqual(parser.feed(bytes("ghi\n")), [line("ghi")])
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    /// Drip-fed CRLF lines (one byte per feed) produce each line exactly once, when its CR arrives.
    func testDripFedCRLF() {
        var parser = TelnetLineParser(maximumLineLength: 64)
        let input = bytes("abc\r\ndef\r\n")
        var seen: [Event] = []
        for (offset, byte) in input.enumerated() {
            let out = parser.feed([byte])
            switch offset {
            case 3: XCTAssertEqual(out, [line("abc")])
            case 8: XCTAssertEqual(out, [line("def")])
            default: XCTAssertEqual(out, [], "byte \(offset)")
            }
            seen += out
        }
        XCTAssertEqual(seen, [line("abc"), line("def")])
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    /// Drip-fed CR NUL, LF and lone-CR terminators give the same lines as feeding them whole.
    func testDripFedMixedTerminatorsMatchWholeFeed() {
        let input = bytes("a\r\0b\nc\rd\r\n\ne")
        XCTAssertEqual(events(input, splits: .byteByByte), [line("a"), line("b"), line("c"), line("d"), line("")])
        XCTAssertEqual(events(input, splits: .byteByByte), events(input, splits: .whole))
    }

    /// Empty lines (in every terminator style) are emitted as empty lines, not skipped.
    func testEmptyLinesAreEmittedAsEmpty() {
        XCTAssertEqual(events("\r\n\n\r\0\r"), [line(""), line(""), line(""), line("")])
    }

    /// An unfinished line is held (and counted) until its terminator arrives.
    func testUnfinishedLineIsBufferedUntilItsTerminator() {
        var parser = TelnetLineParser(maximumLineLength: 64)
        XCTAssertEqual(parser.feed(bytes("hel")), [])
        XCTAssertEqual(parser.bufferedByteCount, 3)
        XCTAssertEqual(parser.feed(bytes("lo")), [])
        XCTAssertEqual(parser.bufferedByteCount, 5)
        XCTAssertEqual(parser.feed(bytes("\r\n")), [line("hello")])
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    /// NUL bytes inside a line are data (the sanitiser removes them later); only CR NUL is a terminator.
    func testNULInsideALineIsKeptAsData() {
        XCTAssertEqual(events(Array("a".utf8) + [0, 0] + Array("b\n".utf8)), [.line([0x61, 0, 0, 0x62])])
        XCTAssertEqual(events([0, 0x0a]), [.line([0])])
    }

    /// The parser works on raw bytes: high bytes and invalid UTF-8 pass through untouched.
    func testHighBytesAndInvalidUTF8ArePassedThroughRaw() {
        let raw: [UInt8] = [0xc3, 0x28, 0x80, 0xfe, 0x1b, 0x5b, 0x32, 0x4a]
        XCTAssertEqual(events(raw + [0x0a]), [.line(raw)])
    }

    /// The example drawn in the type's doc comment holds.
    func testDocCommentExample() {
        let input = bytes("hi\r\nyo\nab") + [Self.iac, Self.ip] + bytes("c\r\0") + [Self.iac, Self.do, 1]
            + [Self.iac, Self.do, 6] + bytes("dé") + [Self.iac, Self.ec] + bytes("\n")
        XCTAssertEqual(
            events(input),
            [line("hi"), line("yo"), line("c"), .reply([Self.iac, Self.wont, 1]), .reply([Self.iac, Self.will, 6]), line("d")]
        )
    }

    /// The same input fed whole, byte by byte, and in many random splits yields identical events.
    func testWholeByteByByteAndRandomSplitsYieldIdenticalEvents() {
        let input = bytes("one\r\ntwo\nthree\r\0four\rfive") + [Self.iac, Self.will, 3] + bytes("\r\n")
            + [Self.iac, Self.sb, 24, 0] + bytes("xterm\r\n") + [Self.iac, Self.se] + bytes("six")
            + [Self.iac, Self.iac] + bytes("\n") + bytes(String(repeating: "x", count: 40)) + bytes("\nseven\r")
            + bytes("oops") + Self.capturedCtrlC + bytes("eight") + [Self.iac, Self.ayt] + bytes("!ü€")
            + [Self.iac, Self.ec, Self.iac, Self.ec] + bytes("\r\n")
        let expected: [Event] = [
            line("one"), line("two"), line("three"), line("four"), .reply([Self.iac, Self.dont, 3]), line("five"),
            .line(bytes("six") + [0xff]), .lineTooLong, line("seven"), .reply([Self.iac, Self.will, 6]),
            .areYouThere, line("eight!"),
        ]
        XCTAssertEqual(events(input, maximum: 32, splits: .whole), expected)
        XCTAssertEqual(events(input, maximum: 32, splits: .byteByByte), expected)
        var generator = SplitMix64(seed: 0x5eed)
        for _ in 0..<200 {
            XCTAssertEqual(events(input, maximum: 32, splits: .random(&generator)), expected)
        }
    }

    /// The two-feed API with a callback reports the same events as the array convenience.
    func testCallbackFeedMatchesArrayFeed() {
        let input = bytes("a\r\nb\nc")
        var parser = TelnetLineParser(maximumLineLength: 8)
        var seen: [Event] = []
        input.withUnsafeBytes { parser.feed($0) { seen.append($0) } }
        XCTAssertEqual(seen, events(input, maximum: 8))
        XCTAssertEqual(parser.bufferedByteCount, 1)
    }

    // MARK: telnet commands

    /// `IAC WILL/WONT/DO/DONT opt` never reaches the line, option byte included; DO and WILL are refused.
    func testNegotiationCommandsNeverReachTheLine() {
        let answers: [UInt8: UInt8] = [Self.do: Self.wont, Self.will: Self.dont]
        for verb in [Self.will, Self.wont, Self.do, Self.dont] {
            let input = bytes("a") + [Self.iac, verb, 1] + bytes("b") + [Self.iac, verb, 31] + bytes("\r\n")
            let replies: [Event] = answers[verb].map { [.reply([Self.iac, $0, 1]), .reply([Self.iac, $0, 31])] } ?? []
            XCTAssertEqual(events(input), replies + [line("ab")], "verb \(verb)")
        }
    }

    /// A negotiation option byte equal to CR, LF or IAC is an option, not a terminator or a command.
    func testNegotiationOptionByteIsNeverATerminator() {
        let input = bytes("a") + [Self.iac, Self.do, 13] + bytes("b") + [Self.iac, Self.will, 10]
            + bytes("c") + [Self.iac, Self.dont, 255] + bytes("d\n")
        XCTAssertEqual(events(input), [.reply([Self.iac, Self.wont, 13]), .reply([Self.iac, Self.dont, 10]), line("abcd")])
    }

    /// `IAC SB … IAC SE` is removed whole, even when its payload holds CR and LF.
    func testSubnegotiationIsRemovedWhole() {
        let input = bytes("a") + [Self.iac, Self.sb, 24, 0] + bytes("xterm\r\nvt100\n") + [Self.iac, Self.se] + bytes("b\n")
        XCTAssertEqual(events(input), [line("ab")])
    }

    /// Inside a subnegotiation, `IAC IAC` is an escaped payload byte and does not end it (even before an SE byte).
    func testEscapedIACInsideSubnegotiationDoesNotEndIt() {
        let input = bytes("a") + [Self.iac, Self.sb, 31, Self.iac, Self.iac, Self.se, 80, Self.iac, Self.se] + bytes("b\n")
        XCTAssertEqual(events(input), [line("ab")])
    }

    /// A subnegotiation split across feeds at every point is still removed whole.
    func testSubnegotiationSplitAcrossFeedsIsRemoved() {
        let input = bytes("left") + [Self.iac, Self.sb, 24, 0] + bytes("ansi\n") + [Self.iac, Self.se] + bytes("right\r\n")
        for cut in 0...input.count {
            var parser = TelnetLineParser(maximumLineLength: 64)
            let out = parser.feed(Array(input[..<cut])) + parser.feed(Array(input[cut...]))
            XCTAssertEqual(out, [line("leftright")], "cut at \(cut)")
        }
        XCTAssertEqual(events(input, splits: .byteByByte), [line("leftright")])
    }

    /// An IAC at the very end of a feed is completed by the next feed, whatever command it starts.
    func testIACAtTheVeryEndOfAFeedIsCompletedByTheNextFeed() {
        var parser = TelnetLineParser(maximumLineLength: 64)
        XCTAssertEqual(parser.feed(bytes("a") + [Self.iac]), [])
        XCTAssertEqual(parser.feed([Self.do, 1] + bytes("b") + [Self.iac]), [.reply([Self.iac, Self.wont, 1])])
        XCTAssertEqual(parser.feed([Self.iac] + bytes("c") + [Self.iac]), [])
        XCTAssertEqual(parser.feed([Self.sb, 1, 2, Self.iac]), [])
        XCTAssertEqual(parser.feed([Self.se] + bytes("d") + [Self.iac, Self.will]), [])
        XCTAssertEqual(parser.feed([10] + bytes("e") + [Self.iac]), [.reply([Self.iac, Self.dont, 10])])
        XCTAssertEqual(parser.feed([Self.ec] + bytes("f") + [Self.iac]), [])
        XCTAssertEqual(parser.feed([Self.ayt] + bytes("\n")), [.areYouThere, .line(bytes("ab") + [0xff] + bytes("cdf"))])
    }

    /// `IAC IAC` is one literal 0xFF data byte.
    func testDoubledIACIsALiteral0xFFDataByte() {
        XCTAssertEqual(events([Self.iac, Self.iac, 0x61, Self.iac, Self.iac, Self.iac, Self.iac, 0x0a]), [.line([0xff, 0x61, 0xff, 0xff])])
    }

    /// Two-byte commands with nothing to do (NOP, DM, BRK, GA, a stray SE, any other byte after IAC) are removed.
    func testTwoByteCommandsWithNothingToDoAreRemoved() {
        for command: UInt8 in [Self.se, Self.nop, 242, 243, 249, 0, 1, 6, 13, 10, 239] {
            XCTAssertEqual(events(bytes("a") + [Self.iac, command] + bytes("b\n")), [line("ab")], "IAC \(command)")
        }
    }

    /// Telnet commands that need no answer produce no events at all, and no lines of their own.
    func testCommandsThatNeedNoAnswerProduceNoEvents() {
        let input: [UInt8] = [Self.iac, Self.dont, 1, Self.iac, Self.wont, 3, Self.iac, Self.nop, Self.iac, Self.sb, 1, Self.iac,
                              Self.se, Self.iac, Self.ec, Self.iac, Self.el, Self.iac, Self.ip, Self.iac, Self.ao]
        var parser = TelnetLineParser(maximumLineLength: 8)
        XCTAssertEqual(parser.feed(input), [])
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    // MARK: negotiation answers (RFC 854, RFC 860)

    /// Telnet's Ctrl-C (captured) is answered `IAC WILL TIMING-MARK`, or the client shows nothing ever again; the
    /// line typed next arrives intact.
    func testCapturedCtrlCIsAnsweredWithWillTimingMark() {
        XCTAssertEqual(events(Self.capturedCtrlC + bytes("def\r\n")), [.reply([0xff, 0xfb, 0x06]), line("def")])
    }

    /// Every timing mark is answered, not just the first: each Ctrl-C waits for its own.
    func testEveryTimingMarkIsAnswered() {
        var parser = TelnetLineParser(maximumLineLength: 64)
        for _ in 0..<5 {
            XCTAssertEqual(parser.feed(Self.capturedCtrlC), [.reply([Self.iac, Self.will, Self.timingMark])])
        }
        XCTAssertEqual(parser.feed([Self.iac, Self.do, 6, Self.iac, Self.do, 6]), Array(repeating: .reply([255, 251, 6]), count: 2))
    }

    /// Other `DO x` are answered `WONT x` and other `WILL x` (a `WILL TIMING-MARK` too) `DONT x`, each only the first
    /// time per direction, so a client that keeps asking cannot start a negotiation loop.
    func testOtherOptionsAreRefusedOncePerDirection() {
        var parser = TelnetLineParser(maximumLineLength: 64)
        XCTAssertEqual(parser.feed(Self.capturedModeCharacter), [.reply([255, 252, 3]), .reply([255, 252, 1])])
        XCTAssertEqual(parser.feed(Self.capturedModeCharacter), [])
        XCTAssertEqual(parser.feed([Self.iac, Self.will, 3, Self.iac, Self.will, 3]), [.reply([255, 254, 3])])
        XCTAssertEqual(parser.feed([Self.iac, Self.will, 6, Self.iac, Self.will, 6]), [.reply([255, 254, 6])])
        XCTAssertEqual(parser.feed([Self.iac, Self.do, 24, Self.iac, Self.do, 3]), [.reply([255, 252, 24])])
        XCTAssertEqual(parser.feed([Self.iac, Self.do, 6]), [.reply([255, 251, 6])], "a timing mark is still answered")
    }

    /// The refusal set covers all 256 options (every word of its bitset), and each parser has its own.
    func testEveryOptionIsRefusedExactlyOnce() {
        var parser = TelnetLineParser(maximumLineLength: 8)
        for pass in 0..<2 {
            for option in UInt8.min...UInt8.max {
                let expected: [Event] = option == Self.timingMark
                    ? [.reply([Self.iac, Self.will, option])]
                    : pass == 0 ? [.reply([Self.iac, Self.wont, option])] : []
                XCTAssertEqual(parser.feed([Self.iac, Self.do, option]), expected, "pass \(pass), DO \(option)")
                XCTAssertEqual(parser.feed([Self.iac, Self.will, option]), pass == 0 ? [.reply([Self.iac, Self.dont, option])] : [],
                               "pass \(pass), WILL \(option)")
            }
        }
        var fresh = TelnetLineParser(maximumLineLength: 8)
        XCTAssertEqual(fresh.feed([Self.iac, Self.do, 200]), [.reply([Self.iac, Self.wont, 200])])
    }

    /// `WONT x` and `DONT x` get no reply: we are already in that state.
    func testWontAndDontGetNoReply() {
        var parser = TelnetLineParser(maximumLineLength: 8)
        for option in UInt8.min...UInt8.max {
            XCTAssertEqual(parser.feed([Self.iac, Self.wont, option, Self.iac, Self.dont, option]), [], "option \(option)")
        }
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    // MARK: line editing and AYT

    /// `IAC IP` drops the partial line: `abc`, Ctrl-C, `def` arrives as `def`, not `abcdef`.
    func testInterruptProcessDropsThePartialLine() {
        XCTAssertEqual(events(bytes("abc") + [Self.iac, Self.ip] + bytes("def\r\n")), [line("def")])
        XCTAssertEqual(events(bytes("abc") + Self.capturedCtrlC + bytes("def\r\n")), [.reply([255, 251, 6]), line("def")])
    }

    /// `IAC AO` (captured) drops the partial line too.
    func testAbortOutputDropsThePartialLine() {
        XCTAssertEqual(events(bytes("abc") + Self.capturedAO + bytes("def\r\n")), [line("def")])
    }

    /// `IAC EL` (captured) erases the partial line; what was sent before it as whole lines is untouched.
    func testEraseLineErasesThePartialLine() {
        XCTAssertEqual(events(bytes("one\ntwo") + Self.capturedEL + bytes("three\n")), [line("one"), line("three")])
        XCTAssertEqual(events(Self.capturedEL + bytes("x\n") + Self.capturedEL), [line("x")])
    }

    /// `IAC EC` (captured) erases the last character of the partial line, a whole UTF-8 scalar, never half of one.
    func testEraseCharacterErasesOneWholeScalar() {
        for (typed, left) in [("abc", "ab"), ("aé", "a"), ("a€", "a"), ("a😀", "a"), ("é", ""), ("", ""), ("👋🏽", "👋")] {
            XCTAssertEqual(events(bytes(typed) + Self.capturedEC + bytes("\n")), [line(left)], typed)
        }
        XCTAssertEqual(events(bytes("abcd") + Self.capturedEC + Self.capturedEC + bytes("X\n")), [line("abX")])
        XCTAssertEqual(events(bytes("ab") + Array(repeating: Self.capturedEC, count: 5).flatMap { $0 } + bytes("c\n")), [line("c")])
    }

    /// `IAC EC` after bytes that are not a whole scalar erases what the decoder shows as one character: one stray byte,
    /// or a truncated scalar with its lead byte.
    func testEraseCharacterOnInvalidUTF8ErasesOneShownCharacter() {
        let cases: [([UInt8], [UInt8])] = [
            ([0x61, 0x80], [0x61]),  // lone continuation byte
            ([0x61, 0x80, 0x80, 0x80, 0x80], [0x61, 0x80, 0x80, 0x80]),  // a run of them: one at a time
            ([0x61, 0xe2, 0x82], [0x61]),  // truncated € (one U+FFFD)
            ([0xc3, 0xa9, 0xa9], [0xc3, 0xa9]),  // é and a stray continuation byte
            ([0x61, 0xc0, 0xaf], [0x61, 0xc0]),  // overlong /: two U+FFFD
            ([0x80], []),
        ]
        for (typed, left) in cases {
            XCTAssertEqual(events(typed + Self.capturedEC + bytes("\n")), [.line(left)], "\(typed)")
        }
        XCTAssertEqual(events(bytes("a") + [Self.iac, Self.iac] + Self.capturedEC + bytes("\n")), [line("a")], "escaped 0xFF")
    }

    /// `IAC AYT` (captured) is an event for the session to answer, and leaves the partial line alone.
    func testAreYouThereIsAnEventAndKeepsThePartialLine() {
        XCTAssertEqual(events(bytes("ab") + Self.capturedAYT + bytes("c\n")), [.areYouThere, line("abc")])
        XCTAssertEqual(events(Self.capturedAYT + Self.capturedAYT), [.areYouThere, .areYouThere])
    }

    /// IP, AO and EL end the dropping of an overlong line (already reported), so the line typed next arrives; EC
    /// cannot bring an overlong line back.
    func testDroppingALinePartEndsAnOverlongLine() {
        XCTAssertEqual(events("abcdefgh\n", maximum: 4), [.lineTooLong])
        for command in [Self.ip, Self.ao, Self.el] {
            XCTAssertEqual(events(bytes("abcdef") + [Self.iac, command] + bytes("gh\n"), maximum: 4), [.lineTooLong, line("gh")])
        }
        XCTAssertEqual(events(bytes("abcde") + Self.capturedEC + Self.capturedEC + bytes("\nok\n"), maximum: 4),
                       [.lineTooLong, line("ok")])
    }

    /// Erasing frees room under the limit: a line edited back to the limit passes.
    func testEditedLineIsMeasuredAfterTheEdit() {
        XCTAssertEqual(events(bytes("abcd") + Self.capturedEC + bytes("e\n"), maximum: 4), [line("abce")])
        var parser = TelnetLineParser(maximumLineLength: 4)
        XCTAssertEqual(parser.feed(bytes("abcd") + Self.capturedEL), [])
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    /// Telnet commands and editing split across feeds at every point give the same events as one feed.
    func testCommandsSplitAcrossFeedsAtEveryPoint() {
        let input = bytes("abc") + Self.capturedCtrlC + bytes("dé") + Self.capturedEC + bytes("f") + Self.capturedAYT
            + Self.capturedModeCharacter + bytes("g\r") + Self.capturedEL + bytes("\nh\r\n")
        let expected: [Event] = [.reply([255, 251, 6]), .areYouThere, .reply([255, 252, 3]), .reply([255, 252, 1]),
                                 line("dfg"), line(""), line("h")]
        XCTAssertEqual(events(input), expected)
        for cut in 0...input.count {
            var parser = TelnetLineParser(maximumLineLength: 64)
            XCTAssertEqual(parser.feed(Array(input[..<cut])) + parser.feed(Array(input[cut...])), expected, "cut at \(cut)")
        }
        XCTAssertEqual(events(input, splits: .byteByByte), expected)
    }

    /// In telnet's character mode Ctrl-C is a raw 0x03 data byte (captured: `abc`, Ctrl-C, `def`, Enter gave
    /// `61 62 63 03 64 65 66 0d 00`), not `IAC IP`: it stays data, and the sanitiser removes it later.
    func testRawControlCIsData() {
        XCTAssertEqual(events([0x61, 0x62, 0x63, 0x03, 0x64, 0x65, 0x66, 0x0d, 0x00]), [.line([0x61, 0x62, 0x63, 0x03, 0x64, 0x65, 0x66])])
    }

    // MARK: the limit

    /// A line of exactly the maximum length passes; the terminator does not count.
    func testLineOfExactlyTheMaximumLengthPasses() {
        let full = String(repeating: "x", count: 1024)
        XCTAssertEqual(events(full + "\r\n", maximum: 1024), [line(full)])
        XCTAssertEqual(events("abc\r\0", maximum: 3), [line("abc")])
        XCTAssertEqual(events(full + "\n", maximum: 1024, splits: .byteByByte), [line(full)])
    }

    /// One byte over the limit gives `.lineTooLong` exactly once; the rest of that line is dropped and the
    /// next line is intact.
    func testOverlongLineIsReportedOnceAndTheNextLineSurvives() {
        let over = String(repeating: "y", count: 1025)
        for splits in [Splits.whole, .byteByByte] {
            XCTAssertEqual(events(over + "tail\r\nnext\r\n", maximum: 1024, splits: splits), [.lineTooLong, line("next")])
        }
    }

    /// `.lineTooLong` is emitted as soon as the line crosses the limit, before its terminator, and nothing stays buffered.
    func testOverlongLineIsReportedAsSoonAsItCrossesTheLimit() {
        var parser = TelnetLineParser(maximumLineLength: 4)
        XCTAssertEqual(parser.feed(bytes("abcd")), [])
        XCTAssertEqual(parser.bufferedByteCount, 4)
        XCTAssertEqual(parser.feed(bytes("e")), [.lineTooLong])
        XCTAssertEqual(parser.bufferedByteCount, 0)
        XCTAssertEqual(parser.feed(bytes("fghijkl")), [])
        XCTAssertEqual(parser.bufferedByteCount, 0)
        XCTAssertEqual(parser.feed(bytes("\r")), [])
        XCTAssertEqual(parser.feed(bytes("\nok\n")), [line("ok")])
    }

    /// The CR LF ending a dropped line, split across feeds, does not produce a spurious empty line.
    func testDroppedLineEndingInSplitCRLFLeavesNoEmptyLine() {
        var parser = TelnetLineParser(maximumLineLength: 2)
        XCTAssertEqual(parser.feed(bytes("toolong\r")), [.lineTooLong])
        XCTAssertEqual(parser.feed(bytes("\n\n")), [line("")])
    }

    /// Several overlong lines in a row are each reported once, and short lines between them survive.
    func testEachOverlongLineIsReportedOnce() {
        XCTAssertEqual(
            events("123456\nab\n1234567890\r\n\r\nxyz123\r\0cd", maximum: 5),
            [.lineTooLong, line("ab"), .lineTooLong, line(""), .lineTooLong]
        )
    }

    /// An escaped 0xFF data byte counts toward the limit; negotiation bytes do not.
    func testDataBytesCountButTelnetCommandsDoNot() {
        XCTAssertEqual(events(bytes("abc") + [Self.iac, Self.iac] + bytes("\n"), maximum: 3), [.lineTooLong])
        XCTAssertEqual(
            events(bytes("a") + [Self.iac, Self.do, 1, Self.iac, Self.sb, 1, 2, 3, 4, Self.iac, Self.se] + bytes("bc\n"), maximum: 3),
            [.reply([Self.iac, Self.wont, 1]), line("abc")]
        )
    }

    /// An endless line with no newline (10 MB in 4 KB chunks) never holds more than the maximum, is reported
    /// once, and the parser recovers at the next newline.
    func testEndlessLineKeepsTheBufferBoundedAndIsReportedOnce() {
        let maximum = 1024
        var parser = TelnetLineParser(maximumLineLength: maximum)
        let chunk = [UInt8](repeating: UInt8(ascii: "z"), count: 4096)
        var seen: [Event] = []
        for _ in 0..<(10 * 1024 * 1024 / chunk.count) {
            chunk.withUnsafeBytes { parser.feed($0) { seen.append($0) } }
            XCTAssertLessThanOrEqual(parser.bufferedByteCount, maximum)
        }
        XCTAssertEqual(seen, [.lineTooLong])
        XCTAssertEqual(parser.feed(bytes("zzz\r\nhello\r\n")), [line("hello")])
    }

    /// An endless line drip-fed one byte at a time is bounded too, and reported once.
    func testEndlessLineDripFedKeepsTheBufferBounded() {
        var parser = TelnetLineParser(maximumLineLength: 16)
        var seen: [Event] = []
        for index in 0..<10_000 {
            seen += parser.feed([UInt8(ascii: "a") + UInt8(index % 26)])
            XCTAssertLessThanOrEqual(parser.bufferedByteCount, 16)
        }
        XCTAssertEqual(seen, [.lineTooLong])
    }

    /// An endless subnegotiation is discarded as it arrives, so it buffers nothing.
    func testEndlessSubnegotiationBuffersNothing() {
        var parser = TelnetLineParser(maximumLineLength: 16)
        XCTAssertEqual(parser.feed(bytes("ab") + [Self.iac, Self.sb]), [])
        let chunk = [UInt8](repeating: 7, count: 4096)
        for _ in 0..<256 {
            XCTAssertEqual(parser.feed(chunk), [])
            XCTAssertEqual(parser.bufferedByteCount, 2)
        }
        XCTAssertEqual(parser.feed([Self.iac, Self.se] + bytes("c\n")), [line("abc")])
    }

    // MARK: helpers

    private enum Splits {
        case whole
        case byteByByte
        /// Feeds of these sizes, in turn (a size of 0 is an empty feed).
        case sizes([Int])

        static func random(_ generator: inout SplitMix64) -> Splits {
            .sizes((0..<64).map { _ in Int.random(in: 0...8, using: &generator) } + [1])
        }
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func line(_ text: String) -> Event { .line(Array(text.utf8)) }

    private func events(_ text: String, maximum: Int = 1024, splits: Splits = .whole) -> [Event] {
        events(bytes(text), maximum: maximum, splits: splits)
    }

    private func events(_ input: [UInt8], maximum: Int = 1024, splits: Splits = .whole) -> [Event] {
        var parser = TelnetLineParser(maximumLineLength: maximum)
        var seen: [Event] = []
        switch splits {
        case .whole:
            seen = parser.feed(input)
        case .byteByByte:
            for byte in input { seen += parser.feed([byte]) }
        case .sizes(let sizes):
            var start = 0
            var turn = 0
            while start < input.count {
                let end = min(input.count, start + sizes[turn % sizes.count])
                seen += parser.feed(Array(input[start..<end]))
                start = end
                turn += 1
            }
        }
        XCTAssertLessThanOrEqual(parser.bufferedByteCount, maximum)
        return seen
    }
}
