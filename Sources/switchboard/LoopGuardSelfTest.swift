import ArgumentParser
import NIOCore
import NIOPosix
import SwitchboardDatabase

#if DEBUG
/// Hidden: opens a SQLite database on an event loop thread, which must trap in debug builds. The test
/// suite runs it to prove the guard fires (a trap cannot be caught inside the test process).
struct LoopGuardSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug-loop-guard-selftest", abstract: "Proves the event-loop guard traps.", shouldDisplay: false)

    @Option(name: .long) var path: String

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let path = self.path
        try group.next().submit {
            _ = try SQLiteConnection(path: path)  // on the loop thread: BlockingCallGuard traps in debug builds
        }.wait()
        print("no trap: this is a release build")
        try group.syncShutdownGracefully()
    }
}
#endif
