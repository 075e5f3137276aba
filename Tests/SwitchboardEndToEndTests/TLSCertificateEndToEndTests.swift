import Foundation
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Certificates of `ssl:` endpoints: refused at start with the file named, reloaded on SIGHUP (the real
/// binary and signal) and by the periodic check, a broken renewal kept out and reported once.
final class TLSCertificateEndToEndTests: XCTestCase {
    /// A certificate, key or chain that cannot be used stops the start: exit status 1 and one error line
    /// naming the file and what is wrong, before anything listens.
    func testStartRefusesAnUnusableCertificateOrKeyNamingTheFile() throws {
        let directory = try makeTemporaryDirectory()
        let good = try TestCertificate.make(in: directory, name: "good")
        let other = try TestCertificate.make(in: directory, name: "other", key: .rsa2048)
        let garbage = directory.appendingPathComponent("garbage.pem").path
        try Data("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n".utf8)
            .write(to: URL(fileURLWithPath: garbage))
        let missing = directory.appendingPathComponent("missing.pem").path
        let folder = directory.appendingPathComponent("a-directory.pem").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)

        let cases: [(endpoint: String, file: String, reason: String)] = [
            ("privateKey=\(missing):certKey=\(good.certificatePath)", missing, "No such file or directory"),
            ("privateKey=\(good.keyPath):certKey=\(folder)", folder, "Is a directory"),
            ("privateKey=\(good.keyPath):certKey=\(garbage)", garbage, "not a PEM certificate"),
            ("privateKey=\(good.certificatePath):certKey=\(good.certificatePath)", good.certificatePath,
             "not an unencrypted PEM private key"),
            ("privateKey=\(other.keyPath):certKey=\(good.certificatePath)", other.keyPath,
             "does not match the certificate in \(good.certificatePath)"),
            ("privateKey=\(good.keyPath):certKey=\(good.certificatePath):extraCertChain=\(missing)", missing,
             "No such file or directory"),
        ]
        for (endpoint, file, reason) in cases {
            let result = try runSwitchboardBounded(
                ["serve", "--listen", "ssl:0:interface=127.0.0.1:\(endpoint)", "--database", "sqlite:db.sqlite"],
                in: directory, deadline: 60)
            XCTAssertEqual(result.status, 1, result.output)
            XCTAssertTrue(result.output.contains("cannot use TLS file \(file): \(reason)"), result.output)
            XCTAssertFalse(result.output.contains("listening"), result.output)
        }
    }

    /// SIGHUP while a TLS client is connected: a new client gets the new certificate (its serial), the
    /// connected one chats on; then a renewal that is broken (a key that does not match) is refused with
    /// an error line, and new clients keep getting the certificate in use.
    func testSighupReloadsTheCertificateForNewClientsWhileConnectedOnesStay() throws {
        let directory = try makeTemporaryDirectory()
        let first = try TestCertificate.make(in: directory, name: "live", serial: "A1")
        let server = try ServerProcess.serve(
            database: "sqlite:\(directory.path)/db.sqlite", in: directory,
            extraArguments: ["--listen", "ssl:0:interface=127.0.0.1:privateKey=live.key.pem:certKey=live.cert.pem",
                             "--tls-reload-interval", "0"])
        defer { server.terminate() }
        let tlsPort = try Self.tlsPort(of: server)
        XCTAssertEqual(try TestCertificate.servedSerial(port: tlsPort), first.serial)

        let staying = try OpenSSLClient(port: tlsPort)
        staying.expectWelcome()
        let (plain, _) = try joinClient(server)
        XCTAssertEqual(staying.readLine()?.hasSuffix(" joined (2 clients connected)"), true)

        // Renewed in place, the way certbot's deploy step copies files (new key, new certificate).
        let renewed = try TestCertificate.make(in: directory, name: "renewed", serial: "B2")
        try Self.replace(directory.appendingPathComponent("live.key.pem").path, with: renewed.keyPath)
        try Self.replace(directory.appendingPathComponent("live.cert.pem").path, with: renewed.certificatePath)
        kill(server.process.processIdentifier, SIGHUP)
        try server.waitForLog(containing: "serial=B2 [SwitchboardChat] TLS certificate reloaded")
        XCTAssertEqual(try TestCertificate.servedSerial(port: tlsPort), "B2")

        // (The serial checks come and go as clients of their own: their notices are read past.)
        staying.send("still on the old certificate\r\n")
        XCTAssertEqual(plain.readLines(until: { $0.hasSuffix("> still on the old certificate") }).last?.first, "<")
        plain.send("heard you\r\n")
        XCTAssertEqual(staying.readLines(until: { $0.hasSuffix("> heard you") }).last?.first, "<")

        // A broken renewal: a certificate whose key is not in the key file.
        let stray = try TestCertificate.make(in: directory, name: "stray", serial: "C3")
        try Self.replace(directory.appendingPathComponent("live.cert.pem").path, with: stray.certificatePath)
        kill(server.process.processIdentifier, SIGHUP)
        let log = try server.waitForLog(containing: "cannot reload the TLS certificate; keeping the one in use")
        XCTAssertTrue(log.contains("does not match the certificate"), log)
        XCTAssertEqual(try TestCertificate.servedSerial(port: tlsPort), "B2")
        let newcomer = try OpenSSLClient(port: tlsPort)
        newcomer.expectWelcome()
        XCTAssertEqual(server.terminate(), 0)
    }

    /// The periodic check (every 0.2 s here) picks up a renewal without a signal; a broken one is reported
    /// once however often it is checked, keeps the certificate in use, and a fix is picked up again. The key
    /// and certificate share one PEM file (`privateKey=` alone), so each change is one rename and no check
    /// can see half of it.
    func testThePeriodicCheckPicksUpARenewalAndReportsABrokenOneOnce() async throws {
        let directory = try makeTemporaryDirectory()
        let combined = directory.appendingPathComponent("live.pem").path
        try Self.combine(try TestCertificate.make(in: directory, name: "first", serial: "D4"), into: combined)
        let endpoint = try Endpoint(parsing: "ssl:0:interface=127.0.0.1:privateKey=\(combined)")
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/db.sqlite", for: self) {
            $0.endpoints.append(endpoint)
            $0.tlsReloadInterval = .milliseconds(200)
        }
        let tlsPort = server.port(ofEndpoint: 1)
        XCTAssertEqual(try TestCertificate.servedSerial(port: tlsPort), "D4")

        try Self.combine(try TestCertificate.make(in: directory, name: "renewed", serial: "E5"), into: combined)
        try server.waitForLog(containing: "TLS certificate reloaded; new connections use it certificate=\(combined) not-after=")
        XCTAssertTrue(server.log.lines.last { $0.contains("TLS certificate reloaded") }?.contains("serial=E5") == true)
        XCTAssertEqual(try TestCertificate.servedSerial(port: tlsPort), "E5")

        let broken = combined + ".new"
        try Data("half a certificate".utf8).write(to: URL(fileURLWithPath: broken))
        XCTAssertEqual(rename(broken, combined), 0)
        try server.waitForLog(containing: "cannot reload the TLS certificate")
        // More checks of the same broken file, on top of the timer's: still one line.
        for _ in 0..<3 { await server.server.reloadCertificates(force: false) }
        XCTAssertEqual(server.log.count(level: .error, containing: "cannot reload the TLS certificate"), 1)
        XCTAssertEqual(try TestCertificate.servedSerial(port: tlsPort), "E5")

        try Self.combine(try TestCertificate.make(in: directory, name: "fixed", serial: "F6"), into: combined)
        try server.log.wait(containing: "serial=F6", timeout: 30)
        XCTAssertEqual(try TestCertificate.servedSerial(port: tlsPort), "F6")
    }

    // MARK: - Helpers

    /// The port the server's `ssl:` endpoint listens on, from its `listening` line.
    static func tlsPort(of server: ServerProcess) throws -> Int {
        let log = try server.waitForLog(containing: "endpoint=ssl:")
        guard let range = log.range(of: #"address=127\.0\.0\.1:(\d+) endpoint=ssl:"#, options: .regularExpression),
            let port = Int(log[range].dropFirst("address=127.0.0.1:".count).prefix { $0.isNumber })
        else { throw ServerProcessError.noPort(log) }
        return port
    }

    /// Writes `certificate`'s key and certificate into one PEM file at `path`, replacing it in one rename.
    static func combine(_ certificate: TestCertificate, into path: String) throws {
        let key = try Data(contentsOf: URL(fileURLWithPath: certificate.keyPath))
        let chain = try Data(contentsOf: URL(fileURLWithPath: certificate.certificatePath))
        try (key + chain).write(to: URL(fileURLWithPath: path + ".new"))
        guard rename(path + ".new", path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// Replaces `path` with a copy of `source` in one step (write beside it, then rename), as deploy hooks do.
    static func replace(_ path: String, with source: String) throws {
        let temporary = path + ".new"
        try? FileManager.default.removeItem(atPath: temporary)
        try FileManager.default.copyItem(atPath: source, toPath: temporary)
        guard rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}
