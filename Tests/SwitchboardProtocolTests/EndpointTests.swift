import SwitchboardProtocol
import XCTest

/// `Endpoint(parsing:)`: Twisted-style endpoint strings, and the reasons given when one cannot be used.
final class EndpointTests: XCTestCase {
    // MARK: tcp

    /// `tcp:PORT` listens on every IPv4 interface with the default backlog.
    func testTcpPortAloneListensOnEveryInterface() throws {
        XCTAssertEqual(try Endpoint(parsing: "tcp:8000"), .tcp(host: "0.0.0.0", port: 8000, backlog: 4096))
        XCTAssertEqual(Endpoint.defaultBacklog, 4096)
    }

    /// `interface=ADDR` chooses the address to bind.
    func testTcpInterfaceOptionSetsTheHost() throws {
        XCTAssertEqual(
            try Endpoint(parsing: "tcp:8000:interface=127.0.0.1"),
            .tcp(host: "127.0.0.1", port: 8000, backlog: Endpoint.defaultBacklog)
        )
    }

    /// `reuseport` (a flag, before or among the options) asks for SO_REUSEPORT; it is a tcp option only, and
    /// the endpoint's description does not change.
    func testReusePortIsATcpFlag() throws {
        XCTAssertEqual(try Endpoint(parsing: "tcp:8000:reuseport"),
                       .tcp(host: "0.0.0.0", port: 8000, backlog: 4096, reusePort: true))
        XCTAssertEqual(try Endpoint(parsing: "tcp:8000:interface=127.0.0.1:reuseport:backlog=64"),
                       .tcp(host: "127.0.0.1", port: 8000, backlog: 64, reusePort: true))
        XCTAssertEqual(try Endpoint(parsing: "tcp:8000:reuseport").description, "tcp:0.0.0.0:8000")
        XCTAssertThrowsError(try Endpoint(parsing: "unix:/tmp/x.sock:reuseport")) { error in
            XCTAssertTrue("\(error)".contains("reuseport is a tcp option"), "\(error)")
        }
    }

    /// Port 0 (ephemeral, for tests) and 65535 are the inclusive bounds.
    func testTcpPortBoundsZeroAnd65535AreAccepted() throws {
        XCTAssertEqual(try Endpoint(parsing: "tcp:0:interface=127.0.0.1"), .tcp(host: "127.0.0.1", port: 0, backlog: 4096))
        XCTAssertEqual(try Endpoint(parsing: "tcp:65535"), .tcp(host: "0.0.0.0", port: 65_535, backlog: 4096))
    }

    /// An IPv6 literal in brackets keeps its colons, and the brackets are not part of the host.
    func testBracketedIPv6InterfaceKeepsItsColons() throws {
        XCTAssertEqual(try Endpoint(parsing: "tcp:8000:interface=[::1]"), .tcp(host: "::1", port: 8000, backlog: 4096))
        XCTAssertEqual(
            try Endpoint(parsing: "tcp:6667:interface=[2001:db8::42]:backlog=8"),
            .tcp(host: "2001:db8::42", port: 6667, backlog: 8)
        )
    }

    /// Twisted's `\:` escape makes an IPv6 literal too.
    func testBackslashEscapedIPv6InterfaceKeepsItsColons() throws {
        XCTAssertEqual(try Endpoint(parsing: #"tcp:8000:interface=\:\:1"#), .tcp(host: "::1", port: 8000, backlog: 4096))
    }

    /// `backlog=N` overrides the default listen backlog.
    func testBacklogOptionOverridesTheDefault() throws {
        XCTAssertEqual(try Endpoint(parsing: "tcp:8000:backlog=16"), .tcp(host: "0.0.0.0", port: 8000, backlog: 16))
    }

    /// Options may be given in any order.
    func testOptionsMayComeInAnyOrder() throws {
        XCTAssertEqual(
            try Endpoint(parsing: "tcp:8000:backlog=4:interface=10.0.0.1"),
            try Endpoint(parsing: "tcp:8000:interface=10.0.0.1:backlog=4")
        )
    }

    /// A backlog of zero, a negative one, a non-number or nothing is refused.
    func testBacklogMustBeAPositiveNumber() {
        for text in ["tcp:8000:backlog=0", "tcp:8000:backlog=-1", "tcp:8000:backlog=abc", "tcp:8000:backlog=",
                     "unix:/tmp/sb.sock:backlog=0"] {
            XCTAssertEqual(reason(text), "backlog must be a positive number", text)
        }
    }

    /// Ports below 0, above 65535, non-numeric or missing are refused with the valid range.
    func testBadPortsAreRefusedWithTheValidRange() {
        for text in ["tcp:-1", "tcp:70000", "tcp:65536", "tcp:abc", "tcp:", "tcp", "tcp:80.5", "tcp:8000:9000"] {
            XCTAssertEqual(reason(text), "tcp needs a port from 0 to 65535, e.g. tcp:8000", text)
        }
    }

    /// An empty `interface=` is refused rather than silently binding everything.
    func testEmptyInterfaceIsRefused() {
        XCTAssertEqual(reason("tcp:8000:interface="), "interface= needs an address")
    }

    /// An unknown tcp option is named in the reason, with the known ones.
    func testUnknownTcpOptionIsNamed() {
        XCTAssertEqual(reason("tcp:8000:colour=blue"), "unknown tcp option 'colour' (known: interface, backlog, reuseport)")
    }

    /// The same option twice is refused, naming it.
    func testDuplicateOptionIsRefused() {
        XCTAssertEqual(reason("tcp:8000:interface=127.0.0.1:interface=10.0.0.1"), "option interface given twice")
        XCTAssertEqual(reason("unix:/tmp/a.sock:mode=600:mode=660"), "option mode given twice")
    }

    /// A positional part after an option is refused, naming the part.
    func testPositionalPartAfterAnOptionIsRefused() {
        XCTAssertEqual(reason("tcp:interface=127.0.0.1:8000"), "'8000' must come before the options")
    }

    // MARK: unix

    /// `unix:PATH` is a Unix domain socket with no mode change and the default backlog.
    func testUnixPathParses() throws {
        XCTAssertEqual(
            try Endpoint(parsing: "unix:/run/switchboard.sock"),
            .unix(path: "/run/switchboard.sock", mode: nil, backlog: Endpoint.defaultBacklog)
        )
    }

    /// `mode=660` is read as octal permission bits, and backlog works for unix too.
    func testUnixModeIsReadAsOctal() throws {
        XCTAssertEqual(try Endpoint(parsing: "unix:/tmp/sb.sock:mode=660"), .unix(path: "/tmp/sb.sock", mode: 0o660, backlog: 4096))
        XCTAssertEqual(
            try Endpoint(parsing: "unix:/tmp/sb.sock:mode=0777:backlog=3"),
            .unix(path: "/tmp/sb.sock", mode: 0o777, backlog: 3)
        )
    }

    /// Twisted's `lockfile=` option is accepted (and ignored) so Twisted strings keep working.
    func testUnixLockfileOptionIsAccepted() throws {
        XCTAssertEqual(try Endpoint(parsing: "unix:/tmp/sb.sock:lockfile=1"), .unix(path: "/tmp/sb.sock", mode: nil, backlog: 4096))
    }

    /// A `\:` in a unix path is a literal colon.
    func testEscapedColonInUnixPathIsKept() throws {
        XCTAssertEqual(try Endpoint(parsing: #"unix:/tmp/a\:b.sock"#), .unix(path: "/tmp/a:b.sock", mode: nil, backlog: 4096))
    }

    /// Non-octal digits, values above 0777, signs or nothing are refused as modes.
    func testBadUnixModeIsRefused() {
        for mode in ["999", "8", "abc", "1000", "", "-1", "0x1ff", "rw-rw----"] {
            let text = "unix:/tmp/sb.sock:mode=\(mode)"
            XCTAssertEqual(reason(text), "mode must be octal permission bits, e.g. mode=660", text)
        }
    }

    /// `unix:` with no path is refused with an example.
    func testUnixWithoutAPathIsRefused() {
        for text in ["unix:", "unix"] {
            XCTAssertEqual(reason(text), "unix needs a socket path, e.g. unix:/tmp/switchboard.sock", text)
        }
    }

    /// An unknown unix option is named in the reason, and tcp's `interface` is not a unix option.
    func testUnknownUnixOptionIsNamed() {
        XCTAssertEqual(reason("unix:/tmp/sb.sock:interface=x"), "unknown unix option 'interface' (known: mode, backlog)")
    }

    // MARK: other kinds

    /// An unknown endpoint type is named, with the supported forms.
    func testUnknownEndpointTypeIsRefusedByName() {
        XCTAssertEqual(
            reason("udp:53"),
            "unknown endpoint type 'udp'; use tcp:PORT[:interface=ADDR], unix:PATH[:mode=OCTAL], ssl:PORT:privateKey=KEY:certKey=CERT, systemd:domain=INET:index=N, or haproxy: before any of them"
        )
        XCTAssertEqual(reason("8000")?.hasPrefix("unknown endpoint type '8000'"), true)
    }

    // MARK: ssl

    /// Twisted's `ssl:PORT:privateKey=…:certKey=…`, with tcp's options and `extraCertChain=`.
    func testSslTakesTwistedsOptions() throws {
        XCTAssertEqual(
            try Endpoint(parsing: "ssl:8443:privateKey=key.pem:certKey=cert.pem"),
            .ssl(host: "0.0.0.0", port: 8443, backlog: 4096,
                 files: TLSFiles(privateKey: "key.pem", certificate: "cert.pem")))
        XCTAssertEqual(
            try Endpoint(parsing: "ssl:8443:interface=[::1]:backlog=8:reuseport:privateKey=/k:certKey=/c:extraCertChain=/chain"),
            .ssl(host: "::1", port: 8443, backlog: 8, reusePort: true,
                 files: TLSFiles(privateKey: "/k", certificate: "/c", extraCertificateChain: "/chain")))
        XCTAssertEqual(try Endpoint(parsing: "ssl:8443:privateKey=k:certKey=c").description, "ssl:0.0.0.0:8443")
        XCTAssertEqual(try Endpoint(parsing: "ssl:8443:privateKey=k:certKey=c").tlsFiles?.paths, ["c", "k"])
    }

    /// Without `certKey=`, the certificate is read from the key's file (one PEM holding both), as in Twisted.
    func testSslCertificateDefaultsToTheKeysFile() throws {
        XCTAssertEqual(try Endpoint(parsing: "ssl:8443:privateKey=both.pem").tlsFiles,
                       TLSFiles(privateKey: "both.pem", certificate: "both.pem"))
    }

    /// `ssl:` needs a port and a key; unknown options are named.
    func testSslNeedsAPortAndAKey() {
        XCTAssertEqual(reason("ssl:privateKey=k"),
                       "ssl needs a port from 0 to 65535, e.g. ssl:8443:privateKey=key.pem:certKey=cert.pem")
        XCTAssertEqual(reason("ssl:8443"),
                       "ssl needs privateKey=KEY.pem (and certKey=CERT.pem unless the key's file holds both)")
        XCTAssertEqual(reason("ssl:8443:privateKey=k:certKey="), "certKey= and extraCertChain= need a file")
        XCTAssertEqual(reason("ssl:8443:privateKey=k:sslmethod=TLSv1_METHOD"),
                       "unknown ssl option 'sslmethod' (known: privateKey, certKey, extraCertChain, interface, backlog, reuseport)")
    }

    // MARK: haproxy

    /// `haproxy:` wraps any endpoint; the inner endpoint's errors are reported with the whole string.
    func testHaproxyWrapsAnyEndpoint() throws {
        XCTAssertEqual(try Endpoint(parsing: "haproxy:tcp:8000"), .haproxy(.tcp(host: "0.0.0.0", port: 8000, backlog: 4096)))
        let wrapped = try Endpoint(parsing: "haproxy:ssl:8443:privateKey=k:certKey=c")
        XCTAssertTrue(wrapped.expectsProxyHeader)
        XCTAssertEqual(wrapped.tlsFiles, TLSFiles(privateKey: "k", certificate: "c"))
        XCTAssertEqual(wrapped.description, "haproxy:ssl:0.0.0.0:8443")
        XCTAssertEqual(wrapped.socketEndpoint, try Endpoint(parsing: "ssl:8443:privateKey=k:certKey=c"))
        XCTAssertFalse(try Endpoint(parsing: "tcp:8000").expectsProxyHeader)
        XCTAssertEqual(reason("haproxy:tcp:abc"), "tcp needs a port from 0 to 65535, e.g. tcp:8000")
        XCTAssertEqual(reason("haproxy:haproxy:tcp:8000"), "haproxy: is given once")
        XCTAssertEqual(reason("haproxy:")?.hasPrefix("empty endpoint"), true)
    }

    // MARK: systemd

    /// Twisted's `systemd:domain=INET:index=0`: a socket systemd passes, by its place among them.
    func testSystemdNamesADomainAndAnIndex() throws {
        XCTAssertEqual(try Endpoint(parsing: "systemd:domain=INET:index=0"), .systemd(domain: .inet, index: 0))
        XCTAssertEqual(try Endpoint(parsing: "systemd:index=2:domain=UNIX"), .systemd(domain: .unix, index: 2))
        XCTAssertEqual(try Endpoint(parsing: "haproxy:systemd:domain=INET6:index=1"), .haproxy(.systemd(domain: .inet6, index: 1)))
        XCTAssertEqual(Endpoint.systemd(domain: .inet, index: 0).description, "systemd:domain=INET:index=0")
        XCTAssertEqual(reason("systemd:domain=INET"), "systemd needs index=N, the socket's place among those systemd passes (from 0)")
        XCTAssertEqual(reason("systemd:domain=INET:index=-1"), "systemd needs index=N, the socket's place among those systemd passes (from 0)")
        XCTAssertEqual(reason("systemd:domain=IPX:index=0"), "systemd needs domain=INET, domain=INET6 or domain=UNIX")
        XCTAssertEqual(reason("systemd:3"), "systemd takes options only, e.g. systemd:domain=INET:index=0")
        XCTAssertEqual(reason("systemd:domain=INET:index=0:name=x"), "unknown systemd option 'name' (known: domain, index)")
    }

    /// The empty string (and a bare `:`) is refused with an example.
    func testEmptyStringIsRefused() {
        XCTAssertEqual(reason(""), "empty endpoint; try tcp:8000 or unix:/path/to.sock")
        XCTAssertEqual(reason(":8000"), "empty endpoint; try tcp:8000 or unix:/path/to.sock")
    }

    /// The error's description is one line naming the endpoint and the reason.
    func testErrorDescriptionNamesTheEndpointAndTheReason() {
        do throws(EndpointError) {
            _ = try Endpoint(parsing: "tcp:abc")
            XCTFail("tcp:abc parsed")
        } catch {
            XCTAssertEqual(error.endpoint, "tcp:abc")
            XCTAssertEqual(
                error.description,
                "invalid endpoint 'tcp:abc': tcp needs a port from 0 to 65535, e.g. tcp:8000"
            )
            XCTAssertFalse(error.description.contains("\n"))
        }
    }

    /// `description` brackets IPv6 hosts so the port stays unambiguous.
    func testDescriptionBracketsIPv6Hosts() {
        XCTAssertEqual(Endpoint.tcp(host: "::1", port: 80, backlog: 1).description, "tcp:[::1]:80")
        XCTAssertEqual(Endpoint.tcp(host: "127.0.0.1", port: 80, backlog: 1).description, "tcp:127.0.0.1:80")
        XCTAssertEqual(Endpoint.unix(path: "/tmp/sb.sock", mode: 0o600, backlog: 1).description, "unix:/tmp/sb.sock")
    }

    // MARK: helpers

    /// The reason `text` is refused, or `nil` (and a failure) when it parses.
    private func reason(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do throws(EndpointError) {
            let endpoint = try Endpoint(parsing: text)
            XCTFail("'\(text)' parsed as \(endpoint)", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.endpoint, text, file: file, line: line)
            return error.reason
        }
    }
}
