import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion for a test, bounded: the one way the suite launches short-lived processes
/// (the `switchboard` CLI, PostgreSQL's `pg_ctl`, `sha256sum`, `chattr`, …). Long-running servers whose log
/// is read while they run are `ServerProcess` (end-to-end tests), which shares ``environment(adding:)``.
///
/// It uses `posix_spawn` and `waitpid`, and sends output to files rather than pipes: `pg_ctl start` leaves a
/// daemon behind that inherits its output, so reading a pipe to its end would wait for the database server
/// to stop, and Foundation's `Process.waitUntilExit` was seen to hang on `runuser` here.
public enum ChildProcess {
    /// How a run ended.
    public struct Result: Sendable, CustomStringConvertible {
        /// The exit status; for a process killed by a signal, the signal number (see ``signaled``); -1 when
        /// it was killed for running past its deadline.
        public var status: Int32
        public var output: String
        public var errors: String
        /// Killed by a signal (a crash or a trap), including the SIGKILL sent at the deadline.
        public var signaled: Bool
        /// It ran past its deadline and was SIGKILLed.
        public var timedOut: Bool
        /// How long it ran.
        public var seconds: TimeInterval

        public var description: String {
            "status \(status)\(signaled ? " (signal)" : "")\(timedOut ? " (timed out)" : ""), \(seconds) s\n"
                + "stdout:\n\(output)\nstderr:\n\(errors)"
        }
    }

    /// This process's environment without `DATABASE_URL` and the server's `SWITCHBOARD_*` settings (so a
    /// developer's own setting never leaks into a test; the test suite's `SWITCHBOARD_TEST_*` stay) and with
    /// `extra` on top.
    public static func environment(adding extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("SWITCHBOARD_") || $0.key.hasPrefix("SWITCHBOARD_TEST")
        }
        environment["DATABASE_URL"] = nil
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// Runs `executable` (a path, or a name looked up in `PATH`) with `arguments` in `directory`, stdin from
    /// /dev/null (or, given `input`, a file holding it); SIGKILLs it after `timeout` seconds. `mergeErrors`
    /// sends stderr to `output` as well, in the order written.
    public static func run(
        _ executable: String, _ arguments: [String], in directory: URL? = nil,
        environment: [String: String] = ChildProcess.environment(), timeout: TimeInterval = 60,
        mergeErrors: Bool = false, input: String? = nil
    ) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sb-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outputPath = scratch.appendingPathComponent("out").path
        let errorsPath = scratch.appendingPathComponent("err").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            let inputPath = scratch.appendingPathComponent("in").path
            try Data(input.utf8).write(to: URL(fileURLWithPath: inputPath))
            posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if mergeErrors {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, errorsPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        // posix_spawn_file_actions_addchdir_np does not import into Swift here: a shell changes directory and
        // execs the program, so the status and signals are still the program's own.
        let argv = directory.map { ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, $0.path, executable] + arguments }
            ?? [executable] + arguments
        let program = argv[0]
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        let started = Date()
        var pid: pid_t = 0
        let spawned = program.contains("/")
            ? posix_spawn(&pid, program, &actions, nil, cArguments, cEnvironment)
            : posix_spawnp(&pid, program, &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else {
            throw ChildProcessError(description: "cannot run \(executable): \(String(cString: strerror(spawned)))")
        }

        var status: Int32 = 0
        var timedOut = false
        let deadline = started.addingTimeInterval(timeout)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { break }
            if Date() >= deadline && !timedOut {
                timedOut = true
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(2_000)
        }
        let seconds = Date().timeIntervalSince(started)
        let exited = status & 0x7f == 0
        let read = { (path: String) in
            (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return Result(
            status: timedOut ? -1 : (exited ? (status >> 8) & 0xff : status & 0x7f),
            output: read(outputPath), errors: mergeErrors ? "" : read(errorsPath),
            signaled: !exited, timedOut: timedOut, seconds: seconds)
    }
}

/// A program could not be started at all.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
}
