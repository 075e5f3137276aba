import SwitchboardProtocol
import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libpq's messages made fit to show: the SQLSTATE split off, the first lines only, passwords and bound values
/// scrubbed out.
extension PostgresConnection {
    /// Takes the SQLSTATE out of a verbose libpq message (`FATAL:  3D000: database "x" does not exist`,
    /// then a `LOCATION:` line) and returns it with the message as default verbosity would show it.
    static func splitSQLState(_ text: String) -> (sqlState: String?, message: String) {
        let lines = text.split(whereSeparator: \.isNewline).filter {
            !$0.drop(while: \.isWhitespace).hasPrefix("LOCATION:")
        }
        let message = lines.joined(separator: "\n")
        let isCodeCharacter: (Character) -> Bool = { $0.isASCII && ($0.isNumber || $0.isUppercase) }
        var search = message[...]
        while let marker = search.range(of: ":  ") {
            let code = message[marker.upperBound...].prefix(5)
            let after = message[code.endIndex...]
            if code.count == 5, code.allSatisfy(isCodeCharacter), after.hasPrefix(": ") {
                let cleaned = message[..<marker.upperBound] + after.dropFirst(2)
                return (String(code), String(cleaned))
            }
            search = message[marker.upperBound...]
        }
        return (nil, message)
    }

    /// The connection's last error, on one line, without the password.
    func errorMessage(_ conn: OpaquePointer) -> String {
        BlockingCallGuard.checkDatabaseCall("PQerrorMessage")
        return scrubbed(PostgresConnection.firstLines(PQerrorMessage(conn).map { String(cString: $0) } ?? ""), conn: conn)
    }

    /// libpq's messages span lines (one per address tried, plus hints); an error is one line.
    static func firstLines(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { line in String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }

    /// Removes the password, in every spelling, from a message, should the server or libpq ever echo it.
    func scrubbed(_ message: String, conn: OpaquePointer) -> String {
        PostgresConnection.scrubbed(message, conn: conn, parameters: parameters)
    }

    static func scrubbed(
        _ message: String, conn: OpaquePointer, parameters: PostgresConnectionParameters
    ) -> String {
        var message = parameters.scrubbing(message)
        // libpq may also have taken a password from PGPASSWORD or ~/.pgpass.
        BlockingCallGuard.checkDatabaseCall("PQpass")
        if let pointer = PQpass(conn) {
            let password = String(cString: pointer)
            if password.count > 1 { message = message.replacing(password, with: "***") }
        }
        return message
    }

    /// PostgreSQL quotes bad input back (`invalid input syntax for type integer: "…"`); errors never carry
    /// bound values, so a quoted bound value becomes `"***"`.
    static func redactingBinds(_ binds: [DatabaseValue], in message: String) -> String {
        var message = message
        for bind in binds {
            guard case .text(let text) = bind, !text.isEmpty else { continue }
            message = message.replacing("\"\(text)\"", with: "\"***\"")
        }
        return message
    }
}
