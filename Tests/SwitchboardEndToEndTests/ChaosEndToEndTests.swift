import Foundation
import NIOConcurrencyHelpers
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#endif

/// Hundreds of hostile clients against the real binary (default flags) at once, seeded and reproducible in
/// what each client does (the interleaving is the kernel's): floods, resets mid-write, half-closes, clients
/// that never read, crowds that join and reset together, overlong lines, telnet negotiation, nickname races,
/// `/history` and `/seen` spam, random bytes. Meanwhile "witness" clients chat below the flood limit with
/// uniquely tagged lines.
///
/// Afterwards: the process is alive and welcomes a fresh client within a second; its peak RSS stayed under
/// ``peakLimitMiB``; SIGTERM ends it with status 0; every connection row is closed; every witness line is in
/// the `messages` table. Every failure message starts with the seed.
///
/// Environment: `SWITCHBOARD_CHAOS_SEED` (replay), `SWITCHBOARD_CHAOS_SECONDS` (default 30),
/// `SWITCHBOARD_CHAOS_CLIENTS` (hostile client threads, default 200; crowds add more connections).
final class ChaosEndToEndTests: XCTestCase {
    /// The bound on the server's peak RSS (VmHWM) over the whole run, debug build included.
    static let peakLimitMiB = 256
    static let witnessCount = 4
    /// Witness lines per second each: under the default --flood-rate of 10 (burst 20).
    static let witnessInterval: TimeInterval = 0.25

    func testHundredsOfHostileClientsLeaveTheServerAliveBoundedAndItsHistoryComplete() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["SWITCHBOARD_CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(1) << 48)
        let seconds = environment["SWITCHBOARD_CHAOS_SECONDS"].flatMap { Double($0) } ?? 30
        let actorCount = environment["SWITCHBOARD_CHAOS_CLIENTS"].flatMap { Int($0) } ?? 200
        let banner = "[chaos seed=\(seed), replay with SWITCHBOARD_CHAOS_SEED=\(seed)]"
        print("\(banner) \(actorCount) hostile clients + \(Self.witnessCount) witnesses for \(seconds) s")
        ProcessFacts.raiseOpenFileLimit()

        let directory = try makeTemporaryDirectory()
        let databasePath = "\(directory.path)/chaos.sqlite"
        let database = "sqlite:\(databasePath)"
        let server = try ServerProcess.serve(database: database, in: directory)
        let port = server.port
        let report = ChaosReport()
        let deadline = Date().addingTimeInterval(seconds)

        // Witnesses: tagged chat lines at 4 a second each, reading everything they are sent.
        let witnessesDone = DispatchGroup()
        let witnessTags = NIOLockedValueBox<[String]>([])
        for index in 0..<Self.witnessCount {
            witnessesDone.enter()
            let thread = Thread {
                defer { witnessesDone.leave() }
                let sent = Self.witness(index, seed: seed, port: port, until: deadline, report: report)
                witnessTags.withLockedValue { $0 += sent }
            }
            thread.start()
        }

        // Hostile clients, each with its own seeded generator.
        let actorsDone = DispatchGroup()
        for index in 0..<actorCount {
            actorsDone.enter()
            let thread = Thread {
                defer { actorsDone.leave() }
                var random = SplitMix64(seed: seed &+ UInt64(index + 1) &* 0x9e37_79b9_7f4a_7c15)
                var actor = ChaosActor(port: port, deadline: deadline, report: report)
                while Date() < deadline { actor.runEpisode(using: &random) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }

        // Watch the process while the chaos runs (sampling, not synchronising: the deadline decides).
        var peakKiB = 0
        while Date() < deadline && server.process.isRunning {
            peakKiB = max(peakKiB, server.peakResidentKiB ?? 0)
            usleep(200_000)
        }
        let actorsFinished = actorsDone.wait(timeout: .now() + 60) == .success
        let witnessesFinished = witnessesDone.wait(timeout: .now() + 60) == .success
        print("\(banner) clients finished \(String(format: "%.1f", -deadline.timeIntervalSinceNow)) s after the deadline")
        peakKiB = max(peakKiB, server.peakResidentKiB ?? 0)
        print("\(banner) episodes: \(report.episodeSummary)")

        guard server.process.isRunning else {
            return XCTFail("\(banner) the server died during the chaos: \(server.diagnosisAfterExit)")
        }
        XCTAssertTrue(actorsFinished, "\(banner) hostile clients still running 60 s after the deadline")
        XCTAssertTrue(witnessesFinished, "\(banner) witnesses still running 60 s after the deadline")
        let violations = report.violations
        let kinds = Dictionary(grouping: violations) { String($0.prefix { $0 != ":" }.prefix(40)) }
            .map { "\($0.value.count)× \($0.key)" }.sorted()
        XCTAssertEqual(violations, [], "\(banner) contract violations seen by clients during the chaos: \(kinds)")

        // Everyone has left: a probe is alone (bounded; the server may still be working through leaves).
        do {
            let probe = try LineClient(port: port)
            var last: [String] = []
            let leaveDeadline = Date().addingTimeInterval(30)
            repeat {
                if !last.isEmpty { usleep(300_000) }  // poll pace: 3 /count a second stays inside the flood limit
                probe.send("/count\r\n")
                last = probe.readLines(until: { $0.hasSuffix(" in total") }, timeout: 5)
            } while last.last?.hasPrefix("* 1 client connected,") != true && Date() < leaveDeadline
                && !probe.isClosedByServer
            XCTAssertEqual(last.last?.hasPrefix("* 1 client connected,"), true,
                           "\(banner) the chaos clients never all left: \(last.suffix(3)); \(server.diagnosis)")
        } catch {
            XCTFail("\(banner) a probe cannot connect after the chaos (\(error)); \(server.diagnosis)")
        }

        // A fresh client is welcomed within a second.
        let welcomeStart = Date()
        let fresh = try? LineClient(port: port, timeout: 1)
        let welcome = fresh?.readLine(timeout: max(0, 1 - Date().timeIntervalSince(welcomeStart)))
        XCTAssertEqual(welcome?.hasPrefix("* Welcome, "), true,
                       "\(banner) no welcome within 1 s after the chaos (got \(welcome ?? "nothing")); \(server.diagnosis)")
        fresh?.close()

        peakKiB = max(peakKiB, server.peakResidentKiB ?? 0)
        print("\(banner) server peak RSS (VmHWM) \(peakKiB / 1024) MiB")
        XCTAssertLessThan(peakKiB, Self.peakLimitMiB * 1024,
                          "\(banner) server peak RSS \(peakKiB / 1024) MiB over \(Self.peakLimitMiB) MiB")

        // SIGTERM writes the last history batch; then the files tell the rest.
        let stopping = Date()
        let status = server.terminate(timeout: 30)
        print("\(banner) SIGTERM took \(String(format: "%.1f", -stopping.timeIntervalSinceNow)) s")
        XCTAssertEqual(status, 0, "\(banner) SIGTERM after the chaos: \(server.diagnosis)")

        let history = try runSwitchboard(
            ["history", "--json", "--limit", "10000000", "--database", database], in: directory)
        XCTAssertEqual(history.status, 0, "\(banner) \(history.errors)")
        let rows = history.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let open = rows.filter { !($0["disconnected_at"] is String) }
        XCTAssertGreaterThan(rows.count, actorCount, "\(banner) too few connection rows")
        XCTAssertEqual(open.count, 0, "\(banner) \(open.count) of \(rows.count) connection rows never closed: "
            + "\(open.prefix(3))")

        let sent = Set(witnessTags.withLockedValue { $0 })
        let connection = try SQLiteConnection(path: databasePath)
        defer { connection.close() }
        let stored = Set(
            try connection.query("SELECT body FROM messages WHERE body LIKE 'chaos-witness %'", [])
                .compactMap { $0.first?.string })
        let missing = sent.subtracting(stored).sorted()
        XCTAssertGreaterThan(sent.count, Self.witnessCount * 4, "\(banner) the witnesses barely spoke")
        XCTAssertEqual(missing.count, 0, "\(banner) \(missing.count) of \(sent.count) accepted witness lines are not in "
            + "history, e.g. \(missing.prefix(5))")
        print("\(banner) \(rows.count) connections, \(sent.count) witness lines, all checks done")
    }

    /// One witness: joins, says a tagged line every ``witnessInterval`` until `deadline` while reading
    /// everything, then makes sure the server handled them all (a `/count` reply comes after them) and quits.
    /// Returns the tags it sent; reports a disconnection or a `! slow down` as a violation.
    static func witness(_ index: Int, seed: UInt64, port: Int, until deadline: Date, report: ChaosReport) -> [String] {
        guard let client = try? LineClient(port: port), client.readLine(timeout: 15)?.hasPrefix("* Welcome") == true
        else {
            report.violation("witness \(index) was not welcomed")
            return []
        }
        var sent: [String] = []
        var next = Date()
        func check(_ line: String) {
            if line == "! slow down" { report.violation("witness \(index) was told to slow down") }
        }
        while Date() < deadline && !client.isClosedByServer {
            if Date() >= next {
                let tag = "chaos-witness \(seed) w\(index) n\(sent.count)"
                client.send(tag + "\r\n")
                sent.append(tag)
                next = next.addingTimeInterval(witnessInterval)
            }
            if let line = client.readLine(timeout: max(0, min(next, deadline).timeIntervalSinceNow)) { check(line) }
        }
        if client.isClosedByServer {
            report.violation("witness \(index) was disconnected after \(sent.count) lines")
            return sent
        }
        client.send("/count\r\n")
        let lines = client.readLines(until: { $0.hasPrefix("* ") && $0.hasSuffix(" in total") }, timeout: 30)
        lines.forEach(check)
        if lines.last?.hasSuffix(" in total") != true {
            report.violation("witness \(index): no /count reply after its lines (server overwhelmed or closed)")
        }
        client.send("/quit\r\n")
        _ = client.readUntilClosed(timeout: 10)
        return sent
    }
}

/// What the chaos clients saw that breaks the contract, and what they did. Thread-safe.
final class ChaosReport: Sendable {
    private let state = NIOLockedValueBox<(violations: [String], episodes: [String: Int], slowest: (String, Double))>(
        ([], [:], ("none", 0)))

    func violation(_ text: String) {
        state.withLockedValue { if $0.violations.count < 50 { $0.violations.append(text) } }
    }

    func episode(_ name: String, took seconds: Double) {
        state.withLockedValue {
            $0.episodes[name, default: 0] += 1
            if seconds > $0.slowest.1 { $0.slowest = (name, seconds) }
        }
    }

    var violations: [String] { state.withLockedValue { $0.violations } }

    /// Lines shortened for a failure message (chat noise from the garbage clients can be kilobytes).
    static func short<Lines: Sequence<String>>(_ lines: Lines) -> [String] {
        lines.map { $0.count > 100 ? String($0.prefix(100)) + "…" : $0 }
    }

    var episodeSummary: String {
        state.withLockedValue { $0.episodes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" } }
            .joined(separator: ", ")
            + state.withLockedValue { "; slowest: \($0.slowest.0) \(String(format: "%.1f", $0.slowest.1)) s" }
    }
}

/// One hostile client thread: runs seeded episodes, each on fresh connections, each bounded in time.
struct ChaosActor {
    let port: Int
    let deadline: Date
    let report: ChaosReport
    private static let iac: UInt8 = 255

    init(port: Int, deadline: Date, report: ChaosReport) {
        self.port = port
        self.deadline = deadline
        self.report = report
    }

    enum Episode: String, CaseIterable {
        case flood, resetMidWrite, halfClose, neverRead, crowd, overlong, telnet, nickRace, historySpam, garbage
    }

    mutating func runEpisode(using random: inout SplitMix64) {
        // Weights: crowds are expensive for everyone (each join is announced to all), so rarer.
        let weighted: [(Episode, UInt64)] = [
            (.flood, 12), (.resetMidWrite, 12), (.halfClose, 12), (.neverRead, 8), (.crowd, 3), (.overlong, 8),
            (.telnet, 10), (.nickRace, 10), (.historySpam, 10), (.garbage, 8),
        ]
        var pick = random.next() % weighted.reduce(0) { $0 + $1.1 }
        var episode = Episode.flood
        for (candidate, weight) in weighted {
            if pick < weight {
                episode = candidate
                break
            }
            pick -= weight
        }
        let began = Date()
        defer { report.episode(episode.rawValue, took: Date().timeIntervalSince(began)) }
        switch episode {
        case .flood: flood(&random)
        case .resetMidWrite: resetMidWrite(&random)
        case .halfClose: halfClose(&random)
        case .neverRead: neverRead(&random)
        case .crowd: crowd(&random)
        case .overlong: overlong(&random)
        case .telnet: telnet(&random)
        case .nickRace: nickRace(&random)
        case .historySpam: historySpam(&random)
        case .garbage: garbage(&random)
        }
    }

    /// `seconds`, but never more than 5 s past the deadline, so the run ends on time. (Once the chaos stops
    /// the server has little to do; a reply still missing then is missing.)
    private func wait(_ seconds: TimeInterval) -> TimeInterval {
        min(seconds, max(1, deadline.timeIntervalSinceNow + 5))
    }

    /// Connects and waits for the welcome; a missing welcome from a live server is a violation.
    private func join(_ what: String) -> LineClient? {
        guard Date() < deadline, let client = try? LineClient(port: port) else { return nil }
        guard let welcome = client.readLine(timeout: wait(15)), welcome.hasPrefix("* Welcome, ") else {
            if Date() < deadline { report.violation("\(what): no welcome within 15 s") }
            return nil
        }
        return client
    }

    /// Ends a connection the hostile way or the polite way.
    private func end(_ client: LineClient, _ random: inout SplitMix64) {
        switch random.next() % 3 {
        case 0: client.abort()
        case 1: client.close()
        default:
            client.send("/quit chaos\r\n", timeout: 2)
            client.close()
        }
    }

    private static func words(_ random: inout SplitMix64, _ count: Int) -> String {
        let vocabulary = ["alpha", "beta", "gamma", "chaos", "flood", "hello", "☃", "naïve", "ß", "🙂", "x", "lorem"]
        return (0..<count).map { _ in vocabulary[Int(random.next() % UInt64(vocabulary.count))] }
            .joined(separator: " ")
    }

    /// Hundreds to thousands of chat lines at once (far past the burst), reading meanwhile.
    private func flood(_ random: inout SplitMix64) {
        guard let client = join("flood") else { return }
        let count = Int(random.next() % 1900) + 100
        var text = ""
        for index in 0..<count { text += "flood \(index) \(Self.words(&random, Int(random.next() % 12) + 1))\r\n" }
        client.send(text, timeout: 10)
        end(client, &random)
    }

    /// Starts a big write (long and short lines) and resets in the middle of it.
    private func resetMidWrite(_ random: inout SplitMix64) {
        guard let client = join("resetMidWrite") else { return }
        var bytes: [UInt8] = []
        let long = Array(("R" + String(repeating: "r", count: 998) + "\r\n").utf8)
        while bytes.count < 200_000 {
            bytes += random.next() % 4 == 0 ? long : Array("/who\r\n/count\r\nreset me \(bytes.count)\r\n".utf8)
        }
        let cut = Int(random.next() % UInt64(bytes.count))
        client.send(Array(bytes[..<cut]), timeout: 5, whileBlocked: random.next() % 2 == 0 ? .discard : .ignore)
        _ = client.sendSome(bytes[cut...])
        client.abort()
    }

    /// Sends commands (before or after the welcome) and half-closes: the welcome and every reply must come,
    /// then EOF.
    private func halfClose(_ random: inout SplitMix64) {
        guard Date() < deadline, let client = try? LineClient(port: port) else { return }
        let early = random.next() % 2 == 0
        if !early {
            guard client.readLine(timeout: wait(15))?.hasPrefix("* Welcome, ") == true else {
                if Date() < deadline { report.violation("halfClose: no welcome within 15 s") }
                return
            }
        }
        client.send("/seen guest1\r\n/history 3\r\n/count\r\n", timeout: 5)
        client.shutdownWrite()
        let lines = client.readUntilClosed(timeout: wait(20))
        let closed = client.isClosedByServer
        if early && lines.first?.hasPrefix("* Welcome, ") != true {
            report.violation("halfClose before the welcome: first line \(ChaosReport.short(lines.prefix(1))) (closed: \(closed))")
        }
        let got = (
            seen: lines.contains { $0.hasPrefix("* guest1 ") || $0 == "! never seen guest1" },
            history: lines.contains("* end of history"),
            count: lines.contains { $0.hasPrefix("* ") && $0.hasSuffix(" in total") }
        )
        if !(got.seen && got.history && got.count) {
            report.violation("halfClose (early: \(early)): replies missing \(got); last lines \(ChaosReport.short(lines.suffix(4)))")
        }
        if !closed { report.violation("halfClose: the server did not close within 20 s of the replies") }
        client.close()
    }

    /// Joins, shrinks its receive buffer, says a little, then never reads while others talk.
    private func neverRead(_ random: inout SplitMix64) {
        guard let client = join("neverRead") else { return }
        client.setReceiveBuffer(4096)
        client.send("I will not read \(Self.words(&random, 3))\r\n/history 200\r\n", timeout: 2, whileBlocked: .ignore)
        let stay = min(Double(random.next() % 5000) / 1000 + 1, max(0, deadline.timeIntervalSinceNow))
        usleep(useconds_t(stay * 1_000_000))  // the behaviour itself: holding an unread connection
        end(client, &random)
    }

    /// A crowd joins at once (welcomes awaited) and leaves at once, mostly with resets.
    private func crowd(_ random: inout SplitMix64) {
        guard Date() < deadline else { return }
        let size = Int(random.next() % 60) + 20
        let members: [LineClient]
        do {
            members = try LineClient.connectMany(size, port: port, parallel: 64, timeout: wait(30))
        } catch {
            if Date() < deadline { report.violation("crowd of \(size): \(error)") }
            return
        }
        let resets = random.next() % 2 == 0
        for member in members { resets ? member.abort() : member.close() }
    }

    /// Lines over the limit, then a 100 KB line without a newline: `! line too long` and the connection stays.
    private func overlong(_ random: inout SplitMix64) {
        guard let client = join("overlong") else { return }
        var text = ""
        for _ in 0..<3 { text += String(repeating: "o", count: 1025 + Int(random.next() % 3000)) + "\r\n" }
        text += String(repeating: "w", count: 100_000) + "\r\n/count\r\n"
        client.send(text, timeout: 10)
        let lines = client.readLines(until: { $0.hasPrefix("* ") && $0.hasSuffix(" in total") }, timeout: wait(20))
        if !lines.contains("! line too long (max 1024 bytes)") || lines.last?.hasSuffix(" in total") != true {
            report.violation("overlong: expected '! line too long' then a /count reply, got \(ChaosReport.short(lines.suffix(3)))")
        }
        end(client, &random)
    }

    /// Telnet negotiation mixed into lines: DO/WILL, subnegotiation, IP mid-line, DO TIMING-MARK, AYT.
    private func telnet(_ random: inout SplitMix64) {
        guard let client = join("telnet") else { return }
        let iac = Self.iac
        let pieces: [[UInt8]] = [
            [iac, 253, 1], [iac, 251, 3], [iac, 253, 24], [iac, 251, 31],  // DO ECHO, WILL SGA, DO TTYPE, WILL NAWS
            [iac, 250, 31, 0, 80, 0, 24, iac, 240], [iac, 250, 24, 0] + Array("xterm".utf8) + [iac, 240],
            Array("half a line then ".utf8) + [iac, 244],  // IAC IP drops the partial line
            [iac, 253, 6],  // DO TIMING-MARK
            [iac, 246],  // AYT
            Array("telnet says \(Self.words(&random, 2))\r\n".utf8), [iac, iac], [13, 0],
        ]
        var bytes: [UInt8] = []
        var terminated = 0  // each line takes a flood token; stay well inside the burst so /count is answered
        for _ in 0..<(Int(random.next() % 30) + 10) {
            let piece = pieces[Int(random.next() % UInt64(pieces.count))]
            let ends = piece.last == 10 || piece == [13, 0]
            if ends && terminated >= 10 { continue }
            if ends { terminated += 1 }
            bytes += piece
        }
        bytes += [iac, 253, 6, iac, 246] + Array("\r\n/count\r\n".utf8)
        client.send(bytes, timeout: 10)
        let lines = client.readLines(until: { $0.hasPrefix("* ") && $0.hasSuffix(" in total") }, timeout: wait(20))
        // Only the /count reply is required: today's main answers neither AYT nor DO TIMING-MARK (a contract gap
        // of its own, not a crash); the bytes are here to hit the parser while broadcasts flush and close.
        if lines.last?.hasSuffix(" in total") != true {
            report.violation("telnet: expected a /count reply, got \(ChaosReport.short(lines.suffix(3)))")
        }
        end(client, &random)
    }

    /// Many clients rename to the same few names at once.
    private func nickRace(_ random: inout SplitMix64) {
        guard let client = join("nickRace") else { return }
        var text = ""
        for _ in 0..<(Int(random.next() % 5) + 1) {
            text += "/nick racer\(random.next() % 3)\r\nrace \(Self.words(&random, 2))\r\n/who\r\n"
        }
        client.send(text + "/count\r\n", timeout: 5)
        _ = client.readLines(until: { $0.hasSuffix(" in total") }, timeout: wait(10))
        end(client, &random)
    }

    /// `/history 200` and `/seen` far faster than the flood limit.
    private func historySpam(_ random: inout SplitMix64) {
        guard let client = join("historySpam") else { return }
        var text = ""
        for _ in 0..<(Int(random.next() % 40) + 10) {
            text += "/history \(random.next() % 201)\r\n/seen guest\(random.next() % 50)\r\n/seen racer\(random.next() % 3)\r\n"
        }
        client.send(text, timeout: 10)
        _ = client.readLines(until: { _ in false }, timeout: Double(random.next() % 2000) / 1000)
        end(client, &random)
    }

    /// Random bytes, escape sequences and invalid UTF-8 (the hardening tests' generator).
    private func garbage(_ random: inout SplitMix64) {
        guard let client = join("garbage") else { return }
        client.send(HardeningEndToEndTests.hostileBytes(count: Int(random.next() % 60_000) + 1000, using: &random), timeout: 10)
        end(client, &random)
    }
}
