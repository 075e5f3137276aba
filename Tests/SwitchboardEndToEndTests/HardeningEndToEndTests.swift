import Foundation
import SwitchboardTestSupport
import NIOConcurrencyHelpers
import SwitchboardProtocol
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The server under hostile input and hostile peers, on real loopback sockets (issue "Hardening"), in-process
/// except where the process is the point (its resident memory, SIGTERM):
/// garbage bytes, drip-fed and endless lines, half-closes and resets, clients that stop reading, floods,
/// connection limits, SIGTERM with a stuck client, and the Unix socket endpoint.
///
/// Synchronisation is by replies and log lines, never by sleeping. Where a test must know that the server
/// has processed bytes another connection sent, it uses ``settle(_:)``.
final class HardeningEndToEndTests: XCTestCase {
    private static let iac: UInt8 = 255

    // MARK: - Garbage

    /// ~2 MB of random binary from one client (NULs, lone CRs, IAC, escape sequences, invalid UTF-8) neither
    /// disturbs two others chatting (every line arrives exactly, in order) nor reaches their terminals: what
    /// is relayed has no control characters and is valid UTF-8; afterwards the server still answers.
    func testHostileBytesNeitherDisturbTheChatNorReachOtherTerminals() async throws {
        let directory = try makeTemporaryDirectory()
        // No flood control, so every garbage line is relayed and checked; a large send queue, so a reader
        // that falls behind while the other one reads is not cut off.
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.chat.floodRate = 0
            $0.chat.maximumSendQueueBytes = 64 << 20
        }
        let (alice, _) = try server.join()  // guest1
        let bobClient = try LineClient(port: server.port)  // guest2; read raw, to see the bytes really sent
        let bob = RawLineReader(bobClient)
        let bobWelcome = bob.readLine().map { String(decoding: $0, as: UTF8.self) } ?? "<nothing>"
        XCTAssertTrue(bobWelcome.hasPrefix("* Welcome, guest2!"), bobWelcome)
        alice.expect("* guest2 joined (2 clients connected)")

        let port = server.port
        let garbageProcessed = NIOLockedValueBox(false)
        let garbageResult = NIOLockedValueBox<[String]>([])
        let garbageClient = NIOLockedValueBox<Unchecked<LineClient>?>(nil)  // kept open until the end
        let garbageFinished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            defer { garbageFinished.signal() }
            guard let garbage = try? LineClient(port: port) else { return }  // guest3
            garbageClient.withLockedValue { $0 = Unchecked(garbage) }
            _ = garbage.readLine()
            var random = SplitMix64(seed: 0x5eed_b0a7d)
            let bytes = Self.hostileBytes(count: 2 << 20, using: &random)
            var offset = 0
            while offset < bytes.count {  // chunks of random size, so sequences split anywhere
                let size = Int(random.next() % 8192) + 1
                garbage.send(Array(bytes[offset..<min(offset + size, bytes.count)]))
                offset += size
            }
            // Leave any telnet command or subnegotiation the garbage ended in, end its line, then ask.
            let iac = Self.iac
            garbage.send([iac, 240, iac, 240, 13, 10] + Array("/count\r\n".utf8))
            // The server answers the telnet commands in the garbage (IAC WILL/WONT/DONT: raw bytes, decoded
            // here as U+FFFD and stray characters), so the reply may follow such bytes on its line.
            let lines = garbage.readLines(until: { $0.hasSuffix(" in total") }, timeout: 30)
            garbageResult.withLockedValue { $0 = lines }
            garbageProcessed.withLockedValue { $0 = true }
        }

        var garbageLinesSeen = 0
        var problems: [String] = []
        func check(_ raw: [UInt8]) {
            let text = String(decoding: raw, as: UTF8.self)
            if Array(text.utf8) != raw { problems.append("invalid UTF-8: \(raw)") }
            if raw.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7f }) {
                problems.append("C0 control: \(raw)")
            }
            if text.unicodeScalars.contains(where: { (0x80..<0xa0).contains($0.value) }) {
                problems.append("C1 control: \(raw)")
            }
        }
        // Byte prefixes: garbage may put a combining mark right after the space, and String.hasPrefix compares
        // grapheme clusters.
        func isGarbage(_ line: String) -> Bool {
            line.utf8.starts(with: "<guest3> ".utf8) || line.utf8.starts(with: "* guest3 ".utf8)
        }

        var round = 0
        while round < 20_000 {  // bounded; ends once the server has worked through all the garbage
            let ping = "ping \(round) from alice — héllo ✓ \t tab"
            alice.send(ping + "\r\n")
            var arrived = false
            for _ in 0..<100_000 {
                guard let raw = bob.readLine() else { break }
                check(raw)
                let line = String(decoding: raw, as: UTF8.self)
                if line == "<guest1> \(ping)" {
                    arrived = true
                    break
                }
                if isGarbage(line) { garbageLinesSeen += 1 } else { problems.append("bob got \(line)") }
            }
            XCTAssertTrue(arrived, "round \(round): bob never got alice's line")
            let pong = "pong \(round) from bob"
            bobClient.send(pong + "\r\n")
            let lines = alice.readLines(until: { $0 == "<guest2> \(pong)" })
            XCTAssertEqual(lines.last, "<guest2> \(pong)", "round \(round): alice never got bob's line")
            for line in lines.dropLast() where !isGarbage(line) && line != "* guest3 joined (3 clients connected)" {
                problems.append("alice got \(line)")
            }
            guard arrived, lines.last == "<guest2> \(pong)", problems.count < 20 else { break }
            round += 1
            if round >= 20 && garbageProcessed.withLockedValue({ $0 }) { break }
        }

        XCTAssertEqual(garbageFinished.wait(timeout: .now() + 60), .success, "the garbage client never finished")
        XCTAssertEqual(problems, [])
        XCTAssertGreaterThan(garbageLinesSeen, 100, "the garbage should have been relayed (sanitised) to bob")
        let garbageReply = garbageResult.withLockedValue { $0.last } ?? "<nothing>"
        XCTAssertTrue(garbageReply.hasSuffix("* 3 clients connected, 3 visits in total"), garbageReply)
        alice.send("/count\r\n")
        let reply = alice.readLines(until: Self.isCountReply, timeout: 30)
        XCTAssertEqual(reply.last, "* 3 clients connected, 3 visits in total")
        await server.stop()
    }

    // MARK: - Framing across packets

    /// A line drip-fed one byte per packet arrives as one line; CR at the end of one packet and LF at the
    /// start of the next is one terminator; IAC split from its command or option byte is still removed.
    func testLineSplitIntoOneBytePacketsArrivesWhole() async throws {
        let directory = try makeTemporaryDirectory()
        // No flood control: bob's /count probes (two per byte) must all be answered.
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.chat.floodRate = 0
        }
        let (alice, _) = try server.join()
        var noDelay: Int32 = 1
        setsockopt(alice.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        let (bob, _) = try server.join()
        alice.expect("* guest2 joined (2 clients connected)")

        // Each packet is processed by the server on its own before the next is sent.
        func drip(_ packets: [[UInt8]]) -> [String] {
            var relayed: [String] = []
            for packet in packets {
                alice.send(packet)
                relayed += settle(bob)
            }
            return relayed
        }

        let long = "drip-fed " + String(repeating: "0123456789", count: 30) + " done"
        XCTAssertEqual(drip(Array(long.utf8 + [13, 10]).map { [$0] }), ["<guest1> \(long)"])

        // The line ends at the CR; the LF in the next packet must not end a second, empty line.
        XCTAssertEqual(drip([Array("first\r".utf8)]), ["<guest1> first"])
        XCTAssertEqual(drip([Array("\nsecond\r\n".utf8)]), ["<guest1> second"])

        let iac = Self.iac
        // IAC | DO | option 'X': the negotiation is removed even when split over three packets.
        XCTAssertEqual(drip([Array("ab".utf8) + [iac], [253], Array("Xcd\r\n".utf8)]), ["<guest1> abcd"])
        // IAC | IAC is one literal 0xFF data byte (invalid UTF-8 on its own: shown replaced).
        XCTAssertEqual(drip([Array("e".utf8) + [iac], [iac] + Array("f\r\n".utf8)]), ["<guest1> e\u{FFFD}f"])
        // IAC SB | payload | IAC | SE: the whole subnegotiation is removed.
        XCTAssertEqual(drip([[iac, 250], Array("\u{18}\0xy".utf8), [iac], [240] + Array("g\r\n".utf8)]), ["<guest1> g"])

        alice.send("/quit\r\n")
        // The server refused the `IAC DO 'X'` above with `IAC WONT 'X'` (ff fc 58: two invalid UTF-8 bytes as
        // this line reader decodes them, then "X"), once; then the goodbye.
        XCTAssertEqual(alice.readUntilClosed(), ["\u{FFFD}\u{FFFD}X* bye"])
        await server.stop()
        let rows = try await server.history()
        let aliceRow = rows.first { $0["id"] as? Int == 1 }
        // long, first, second, abcd, e?f, g, /quit: a stray empty line from a split CRLF would make it 8.
        XCTAssertEqual(aliceRow?["lines_in"] as? Int, 7, "\(rows)")
    }

    // MARK: - Endless line

    /// 20 MB with no newline gets exactly one `! line too long`, the connection stays usable, and the server's
    /// memory does not grow with the line.
    func testEndlessLineIsRejectedOnceAndMemoryStaysBounded() throws {
        let directory = try makeTemporaryDirectory()
        let server = try ServerProcess.serve(database: "sqlite:\(directory.path)/h.sqlite", in: directory)
        let (alice, _) = try joinClient(server)
        alice.send("/count\r\n")
        alice.expect("* 1 client connected, 1 visit in total")
        let before = try XCTUnwrap(server.residentKiB)

        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 64 * 1024)
        for _ in 0..<320 { alice.send(chunk) }  // 20 MiB, one line
        let during = try XCTUnwrap(server.residentKiB)
        alice.send("\r\n/count\r\n")
        XCTAssertEqual(
            alice.readLines(until: Self.isCountReply, timeout: 30),
            ["! line too long (max 1024 bytes)", "* 1 client connected, 1 visit in total"])
        let after = try XCTUnwrap(server.residentKiB)
        XCTAssertLessThan(max(during, after) - before, 16 * 1024, "RSS grew from \(before) to \(during)/\(after) KiB")
    }

    // MARK: - Half-close and reset

    /// A client that sends a command and half-closes still gets the reply, then is closed; others see it
    /// leave with `connection closed`, and the row says so.
    func testHalfCloseStillGetsTheReplyThenLeaves() async throws {
        let directory = try makeTemporaryDirectory()
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self)
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        alice.expect("* guest2 joined (2 clients connected)")
        alice.send("/count\r\n")
        alice.shutdownWrite()
        XCTAssertEqual(alice.readUntilClosed(), ["* 2 clients connected, 2 visits in total"])
        XCTAssertTrue(alice.isClosedByServer)
        bob.expect("* guest1 left (connection closed) (1 client connected)")
        await server.stop()
        let rows = try await server.history()
        XCTAssertEqual(rows.first { $0["id"] as? Int == 1 }?["close_reason"] as? String, "connection closed", "\(rows)")
    }

    /// A client that aborts with RST (not FIN) is seen to leave with `connection closed`, and its row says so.
    func testResetConnectionLeavesAsConnectionClosed() async throws {
        let directory = try makeTemporaryDirectory()
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self)
        let (bob, _) = try server.join()
        do {
            let (carol, _) = try server.join()
            bob.expect("* guest2 joined (2 clients connected)")
            carol.send("/count\r\n")
            carol.expect("* 2 clients connected, 2 visits in total")
            // A zero linger makes close() send RST at once (what LineClient.abort() does), here when carol
            // is released rather than by an explicit call.
            var option = linger(l_onoff: 1, l_linger: 0)
            setsockopt(carol.fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        }  // carol is released here: its deinit closes the socket
        bob.expect("* guest2 left (connection closed) (1 client connected)")
        await server.stop()
        let rows = try await server.history()
        XCTAssertEqual(rows.first { $0["id"] as? Int == 2 }?["close_reason"] as? String, "connection closed", "\(rows)")
    }

    // MARK: - Slow consumer

    /// A client that stops reading is cut off (`send queue exceeded`) while another floods and a third reads
    /// every line, in order; the server's memory stays bounded.
    func testClientThatStopsReadingIsDisconnectedAndOthersGetEveryLine() throws {
        let directory = try makeTemporaryDirectory()
        let database = "sqlite:\(directory.path)/h.sqlite"
        let server = try ServerProcess.serve(
            database: database, in: directory, extraArguments: ["--max-sendq", "65536", "--flood-rate", "0"])
        let (alice, _) = try joinClient(server)  // guest1
        let (bob, _) = try joinClient(server)  // guest2
        let (sleepy, sleepyWelcome) = try joinClient(server)
        let sleepyNick = nickname(fromWelcome: sleepyWelcome)
        sleepy.setReceiveBuffer(4096)  // and never read again
        bob.expect("* \(sleepyNick) joined (3 clients connected)")
        let before = try XCTUnwrap(server.residentKiB)

        let maximumLines = 100_000  // 20 MB; the flood stops once sleepy is cut off
        let stop = NIOLockedValueBox(false)
        let sent = NIOLockedValueBox(0)
        let flooded = DispatchSemaphore(value: 0)
        let flooder = Unchecked(alice)
        DispatchQueue.global().async {
            defer { flooded.signal() }
            let filler = String(repeating: "x", count: 187)
            var count = 0
            while count < maximumLines && !stop.withLockedValue({ $0 }) {
                var batch = ""
                for _ in 0..<100 {
                    batch += "flood " + String(count + 1_000_000).dropFirst() + " " + filler + "\r\n"  // 200 bytes
                    count += 1
                }
                flooder.value.send(batch)
            }
            flooder.value.send("flood over\r\n")
            sent.withLockedValue { $0 = count }
        }

        let leave = "* \(sleepyNick) left (send queue exceeded) (2 clients connected)"
        var received = 0
        var leaveSeen = false
        var unexpected: [String] = []
        let deadline = Date().addingTimeInterval(60)
        for _ in 0..<(maximumLines + 10) {
            guard let line = bob.readLine(timeout: max(0, deadline.timeIntervalSinceNow)) else { break }
            if line == "<guest1> flood over" { break }
            if line == leave {
                leaveSeen = true
                stop.withLockedValue { $0 = true }
            } else if line.hasPrefix("<guest1> flood "), Int(line.dropFirst(15).prefix(6)) == received {
                received += 1
            } else {
                unexpected.append(line)
                if unexpected.count > 5 { break }
            }
        }
        stop.withLockedValue { $0 = true }
        XCTAssertEqual(flooded.wait(timeout: .now() + 60), .success)
        let after = try XCTUnwrap(server.residentKiB)
        XCTAssertTrue(leaveSeen, "bob never saw '\(leave)'")
        XCTAssertEqual(unexpected, [], "bob's lines were out of order or unexpected")
        XCTAssertEqual(received, sent.withLockedValue { $0 }, "bob missed lines")
        XCTAssertLessThan(after - before, 16 * 1024, "RSS grew from \(before) to \(after) KiB")

        XCTAssertEqual(server.terminate(), 0)
        let rows = try historyJSON(database, in: directory)
        XCTAssertEqual(rows.first { $0["id"] as? Int == 3 }?["close_reason"] as? String, "send queue exceeded")
        XCTAssertEqual(rows.first { $0["id"] as? Int == 2 }?["close_reason"] as? String, "server shutdown")
    }

    // MARK: - Flood control

    /// A burst of 100 lines at once: exactly the burst allowance (5) is relayed, and the sender gets exactly
    /// one `! slow down`.
    func testFloodIsCutToTheBurstWithOneSlowDownNotice() async throws {
        let directory = try makeTemporaryDirectory()
        // Refill is negligible during the test, so the outcome does not depend on timing.
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.chat.floodRate = 0.001
            $0.chat.floodBurst = 5
        }
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        alice.expect("* guest2 joined (2 clients connected)")

        alice.send((0..<100).map { "flood \($0)\r\n" }.joined())
        let relayed = settle(bob)
        bob.send("/msg guest1 sync\r\n")  // behind the flood's output on alice's connection
        XCTAssertEqual(bob.readLines(until: { $0 == "-> guest1: sync" }), ["-> guest1: sync"])
        XCTAssertEqual(relayed, (0..<5).map { "<guest1> flood \($0)" })
        XCTAssertEqual(alice.readLines(until: { $0 == "*guest2* sync" }), ["! slow down", "*guest2* sync"])
        await server.stop()
    }

    // MARK: - Connection limits

    /// Over `--max-clients` a client gets `! server full` and is closed; the refusal is recorded and uses up a
    /// visitor number but is not a visit.
    func testServerFullIsRefusedRecordedAndNotCounted() async throws {
        let directory = try makeTemporaryDirectory()
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.chat.maximumClients = 2
        }
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        alice.expect("* guest2 joined (2 clients connected)")
        let carol = try LineClient(port: server.port)
        XCTAssertEqual(carol.readUntilClosed(), ["! server full"])
        XCTAssertTrue(carol.isClosedByServer)
        try server.waitForLog(containing: "connection refused")
        alice.send("/count\r\n")
        alice.expect("* 2 clients connected, 2 visits in total")

        bob.send("/quit\r\n")
        alice.expect("* guest2 left (quit) (1 client connected)")
        let (dave, daveWelcome) = try server.join()
        XCTAssertTrue(daveWelcome.contains("2 clients connected (you are visitor #4)"), daveWelcome)
        alice.expect("* guest4 joined (2 clients connected)")
        alice.send("/count\r\n")
        alice.expect("* 2 clients connected, 3 visits in total")

        await server.stop()
        XCTAssertEqual(dave.readUntilClosed(), ["* server shutting down"])
        let rows = try await server.history()
        XCTAssertEqual(rows.map { $0["id"] as? Int }, [4, 3, 2, 1])
        XCTAssertEqual(
            rows.map { $0["close_reason"] as? String },
            ["server shutdown", "refused: server full", "quit", "server shutdown"])
    }

    /// Over `--max-per-ip` a client gets `! too many connections from your address` and is closed; the
    /// refusal is recorded and is not a visit.
    func testTooManyFromOneAddressIsRefusedRecordedAndNotCounted() async throws {
        let directory = try makeTemporaryDirectory()
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.chat.maximumClientsPerAddress = 1
        }
        let (alice, _) = try server.join()
        let second = try LineClient(port: server.port)
        XCTAssertEqual(second.readUntilClosed(), ["! too many connections from your address"])
        XCTAssertTrue(second.isClosedByServer)
        try server.waitForLog(containing: "connection refused")
        alice.send("/count\r\n")
        alice.expect("* 1 client connected, 1 visit in total")

        await server.stop()
        let rows = try await server.history()
        XCTAssertEqual(
            rows.map { $0["close_reason"] as? String },
            ["refused: too many connections from your address", "server shutdown"])
    }

    /// With `--idle-timeout 1` a silent client is closed and the others see it leave with `idle timeout`;
    /// a client that keeps talking stays.
    func testIdleClientIsDisconnected() async throws {
        let directory = try makeTemporaryDirectory()
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.chat.idleTimeout = .seconds(1)
        }
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        var notice: String?
        for _ in 0..<40 where notice == nil {  // bob keeps talking; bounded (40 × a 0.25 s read deadline)
            bob.send("/count\r\n")
            notice = bob.readLines(until: { $0.contains(" left (") }, timeout: 0.25).first { $0.contains(" left (") }
        }
        XCTAssertEqual(notice, "* guest1 left (idle timeout) (1 client connected)")
        XCTAssertEqual(alice.readUntilClosed(), ["* guest2 joined (2 clients connected)", "! idle timeout: disconnected"])
        XCTAssertTrue(alice.isClosedByServer)
        await server.stop()
        let rows = try await server.history()
        XCTAssertEqual(rows.map { $0["close_reason"] as? String }, ["server shutdown", "idle timeout"])
    }

    // MARK: - Shutdown

    /// SIGTERM exits 0 within `--shutdown-timeout` even when a client does not read and megabytes are queued
    /// for it; its row says `server shutdown`.
    func testSigtermFinishesDespiteAClientThatDoesNotRead() throws {
        let directory = try makeTemporaryDirectory()
        let database = "sqlite:\(directory.path)/h.sqlite"
        let server = try ServerProcess.serve(
            database: database, in: directory,
            extraArguments: ["--max-sendq", "\(64 << 20)", "--flood-rate", "0", "--shutdown-timeout", "5"])
        let (alice, _) = try joinClient(server)
        let (sleepy, _) = try joinClient(server)
        sleepy.setReceiveBuffer(4096)  // and never read again
        alice.expect("* guest2 joined (2 clients connected)")
        let line = "stuck " + String(repeating: "y", count: 994) + "\r\n"  // 1000 bytes of content
        for _ in 0..<80 { alice.send(String(repeating: line, count: 100)) }  // 8 MB, far more than the kernel holds
        alice.send("/count\r\n")
        XCTAssertEqual(
            alice.readLines(until: Self.isCountReply, timeout: 30).last, "* 2 clients connected, 2 visits in total")

        // The promise is --shutdown-timeout (5 s); 1.5 s on top covers process exit on a loaded machine.
        // terminate() SIGKILLs after its own timeout (returns -1), so a hang fails rather than stalls.
        let sent = Date()
        XCTAssertEqual(server.terminate(timeout: 20), 0)
        let seconds = Date().timeIntervalSince(sent)
        XCTAssertLessThanOrEqual(seconds, 6.5, "SIGTERM took \(seconds) s with --shutdown-timeout 5")
        let rows = try historyJSON(database, in: directory)
        XCTAssertEqual(rows.map { $0["close_reason"] as? String }, ["server shutdown", "server shutdown"])
    }

    // MARK: - Unix socket

    /// `--listen unix:PATH:mode=600` creates the socket file with mode 0600, and a client over AF_UNIX gets the
    /// welcome and can chat.
    func testUnixSocketEndpointHasItsModeAndServesClients() async throws {
        let directory = try makeTemporaryDirectory()
        let path = "/tmp/sb-\(UUID().uuidString.prefix(8)).sock"  // short: sun_path holds 108 bytes
        addTeardownBlock { unlink(path) }
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.endpoints.append(try Endpoint(parsing: "unix:\(path):mode=600"))  // as `--listen unix:PATH:mode=600`
        }
        try server.waitForLog(containing: "address=\(path)")

        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0, "no socket file at \(path)")
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, String(info.st_mode & 0o777, radix: 8))

        let local = try LineClient(unixPath: path)
        let welcome = local.readLine() ?? "<nothing>"
        XCTAssertTrue(welcome.hasPrefix("* Welcome, guest1! 1 client connected"), welcome)
        let (remote, _) = try server.join()
        local.expect("* guest2 joined (2 clients connected)")
        local.send("hello from a unix socket\r\n")
        remote.expect("<guest1> hello from a unix socket")
        await server.stop()
    }

    // MARK: - Helpers

    static func isCountReply(_ line: String) -> Bool { line.hasPrefix("* ") && line.hasSuffix(" in total") }

    /// Makes sure the server has processed every byte other connections sent before this call, and returns the
    /// lines `probe` received meanwhile (its `/count` replies left out).
    ///
    /// Two round trips: the event loop handles a readable connection no later than in the same batch as the
    /// first probe, whose reply may go out before that batch ends; the second probe is read in a later batch.
    func settle(_ probe: LineClient, file: StaticString = #filePath, line: UInt = #line) -> [String] {
        var others: [String] = []
        for _ in 0..<2 {
            probe.send("/count\r\n")
            let lines = probe.readLines(until: Self.isCountReply)
            guard let last = lines.last, Self.isCountReply(last) else {
                XCTFail("no /count reply; got \(lines)", file: file, line: line)
                return others + lines
            }
            others += lines.dropLast()
        }
        return others
    }

    /// `count` bytes of hostile input: random binary mixed with NULs, lone CRs, telnet IAC sequences, ANSI/VT
    /// escape sequences (7- and 8-bit), and invalid UTF-8.
    static func hostileBytes(count: Int, using random: inout SplitMix64) -> [UInt8] {
        let nasties: [[UInt8]] = [
            Array("\u{1B}[2J\u{1B}[H".utf8), Array("\u{1B}[31;1mred".utf8), Array("\u{1B}]0;pwned\u{07}".utf8),
            Array("\u{1B}]2;title\u{1B}\\".utf8), Array("\u{1B}c".utf8), Array("\u{1B}P1$r\u{1B}\\".utf8), [0x1b],
            [0xc2, 0x9b, 0x32, 0x4a], [0xc2, 0x85], [0xc2, 0x90, 0x41, 0xc2, 0x9c],  // C1 CSI, NEL, DCS … ST
            [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3], [0x80], [0xfe], [0xff, 0xff],
            [0], [0, 0, 0], [13], [13, 65], [13, 0], [10], [8, 8, 8], [0x7f], [7],
            [iac, 253, 1], [iac, 251, 3], [iac, 241], [iac, 250, 24, 1, iac, 240], [iac],
            Array("/me waves \u{1B}[5m".utf8), Array("plain text between ".utf8),
        ]
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 64)
        while bytes.count < count {
            if random.next() % 3 == 0 {
                bytes += nasties[Int(random.next() % UInt64(nasties.count))]
            } else {
                for _ in 0..<(random.next() % 48 + 1) { bytes.append(UInt8(truncatingIfNeeded: random.next())) }
            }
        }
        return bytes
    }
}

/// Reads CRLF lines as raw bytes (no decoding), to check what the server really sent. Use it on a client whose
/// own `readLine` is never called (that keeps a buffer of its own).
final class RawLineReader {
    let client: LineClient
    private var buffer: [UInt8] = []
    private var start = 0

    init(_ client: LineClient) { self.client = client }

    /// One line without its CRLF, or `nil` if the server closed or `timeout` passed.
    func readLine(timeout: TimeInterval = 10) -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer[start...].firstIndex(of: 10) {
                var line = Array(buffer[start..<newline])
                start = newline + 1
                if line.last == 13 { line.removeLast() }
                return line
            }
            buffer.removeFirst(start)
            start = 0
            var descriptor = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(max(0, deadline.timeIntervalSinceNow) * 1000)) > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            buffer += chunk[..<count]
        }
    }
}

/// Hands a client to exactly one other thread.
///
/// `@unchecked Sendable`: the creating thread does not touch `value` after the hand-off until it has waited for
/// the other thread to finish, so the value is never used from two threads at once.
final class Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
