import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Where scrypt runs (checking and hashing operator and nickname passwords, ~0.1 s and 32 MiB each): NIO's
/// shared thread pool, not the database pool. On the database pool ten `/identify` attempts from ten addresses
/// held every connection for seconds, and each welcome waits for a connection to record its row; here a
/// password check holds no connection (the hash is read first, quickly) and at most ``maximumPending`` wait
/// or run at once: one more is refused at once with ``PasswordChecksBusy`` (the client is told to try again),
/// so guesses cannot queue without bound. Per-connection and per-address throttles (``ModerationState``) come
/// first; this bound is for many addresses at once.
///
/// Thread-safety: `run` from any thread; the count is behind a lock.
final class PasswordChecks: Sendable {
    /// Checks waiting or running at once, across all clients: 16 is 1.6 s of scrypt on one core, queued.
    static let maximumPending = 16

    private let threads: NIOThreadPool
    private let pending = NIOLockedValueBox(0)

    init(threads: NIOThreadPool = .singleton) {
        self.threads = threads
    }

    /// Runs `body` (scrypt) on the pool; its result on `eventLoop`. Fails at once with ``PasswordChecksBusy``
    /// when ``maximumPending`` are waiting or running.
    func run<T: Sendable>(on eventLoop: any EventLoop, _ body: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        let admitted = pending.withLockedValue { count -> Bool in
            guard count < PasswordChecks.maximumPending else { return false }
            count += 1
            return true
        }
        guard admitted else { return eventLoop.makeFailedFuture(PasswordChecksBusy()) }
        return threads.runIfActive(eventLoop: eventLoop, body).always { [pending] _ in
            pending.withLockedValue { $0 -= 1 }
        }
    }
}

/// Too many password checks at once (``PasswordChecks/maximumPending``): the client is asked to try again.
struct PasswordChecksBusy: Error, CustomStringConvertible {
    var description: String { "too many password checks at once" }
}
