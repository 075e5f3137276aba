import Foundation

/// A self-signed certificate and its key, made by `openssl req` for a test (the way an operator would make
/// one), in PEM files in a directory the test owns.
public struct TestCertificate: Sendable {
    /// The kinds of key the benchmark and tests use.
    public enum KeyKind: Sendable {
        case ecdsaP256
        case rsa2048
    }

    public let keyPath: String
    public let certificatePath: String
    /// The serial number as `openssl x509 -serial` prints it (upper-case hex).
    public let serial: String

    /// Makes a certificate for `localhost` with `serial` (hex digits) into `directory`/`name`.key.pem and
    /// .cert.pem. Skips (fails under `scripts/test.sh`, which installs openssl) when openssl is missing.
    public static func make(
        in directory: URL, name: String = "server", serial: String = "1001", key: KeyKind = .ecdsaP256
    ) throws -> TestCertificate {
        let keyPath = directory.appendingPathComponent("\(name).key.pem").path
        let certificatePath = directory.appendingPathComponent("\(name).cert.pem").path
        let keyArguments = key == .ecdsaP256
            ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"]
        let result = try openssl(
            ["req", "-x509"] + keyArguments + [
                "-nodes", "-keyout", keyPath, "-out", certificatePath, "-days", "2", "-subj", "/CN=localhost",
                "-set_serial", "0x\(serial)",
            ])
        guard result.status == 0 else { throw ChildProcessError(description: "openssl req failed: \(result)") }
        return TestCertificate(keyPath: keyPath, certificatePath: certificatePath, serial: serial.uppercased())
    }

    /// Runs `openssl` with `arguments`; skips (or fails in strict mode) when it is not installed.
    public static func openssl(_ arguments: [String], timeout: TimeInterval = 60) throws -> ChildProcess.Result {
        guard let path = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else {
            throw TestEnvironment.unavailable("openssl is not installed", providedByTestCommand: true)
        }
        return try ChildProcess.run(path, arguments, timeout: timeout)
    }

    /// The serial number of the certificate a TLS server on 127.0.0.1:`port` presents to a new client, as
    /// `openssl x509 -serial` prints it, or `nil` when the handshake fails.
    public static func servedSerial(port: Int) throws -> String? {
        let shell = "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -serial"
        let result = try ChildProcess.run("/bin/sh", ["-c", shell], timeout: 30)
        guard result.status == 0, let line = result.output.split(separator: "\n").first(where: { $0.hasPrefix("serial=") })
        else { return nil }
        return String(line.dropFirst("serial=".count))
    }
}
