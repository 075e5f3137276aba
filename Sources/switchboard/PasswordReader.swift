import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a password for `switchboard operator add`: from the terminal with echo off (asked twice), or, when
/// stdin is not a terminal, the first line of stdin (for scripts: `printf '%s\n' "$PW" | switchboard operator
/// add alice`). Never from a flag, which `ps` and shell history would show.
enum PasswordReader {
    /// Why no password was read (the text never includes one).
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func read(prompt: String) throws -> String {
        if isatty(STDIN_FILENO) == 1 {
            let first = try readFromTerminal(prompt: prompt)
            let second = try readFromTerminal(prompt: "again: ")
            guard first == second else { throw Failure(description: "the two passwords differ") }
            return first
        }
        guard let line = Swift.readLine(strippingNewline: true) else {
            throw Failure(description: "no password on stdin (give it as the first line)")
        }
        return line.hasSuffix("\r") ? String(line.dropLast()) : line
    }

    /// Turns echo off for one line, restoring the terminal however the read ends.
    private static func readFromTerminal(prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { throw Failure(description: "cannot read the terminal's settings") }
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        silent.c_lflag |= tcflag_t(ECHONL)
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent) == 0 else {
            throw Failure(description: "cannot turn off the terminal's echo")
        }
        defer { tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
        guard let line = Swift.readLine(strippingNewline: true) else { throw Failure(description: "no password given") }
        return line
    }
}
