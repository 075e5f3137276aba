import Dispatch
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gives memory back to the system after a crowd has left.
///
/// glibc's malloc keeps what a crowd of connections freed in its arenas (per thread, in pieces) rather than
/// returning it: after 10 000 clients came and went, the server kept about 85 MB where it idled at 34.
/// `malloc_trim(0)` hands the free pages back (39 MB after the same crowd). It walks every arena, so it is
/// not run per connection: every ``interval`` the trimmer is told the most clients connected at once since
/// its last look and how many are now; when at least ``crowd`` fewer than the most since the last trim are,
/// it trims — on a Dispatch thread, not the event loop — and once more ``followUpLooks`` looks after the
/// last such trim: what a crowd leaves behind is freed after its sessions (the history writer's queue of
/// their rows, the notices in flight), after the trims that ran while it was leaving. Measured
/// (`Benchmarks/results/2026-12-07-crowd.md`): 19 500 clients gone from a server idle at 39 MB, 52 MB
/// 6 s after the leave was worked off (1.33×); looking every 5 s with no follow-up, the median run still
/// held 3.9× its idle RSS 6 s after the last client closed.
///
/// Ownership: created and polled on the hub's event loop; the trim itself runs on a global queue.
final class MemoryTrimmer {
    /// How often the connected count is looked at: two integers compared, so often enough that a crowd's
    /// memory is back a second or two after it left (every 5 s it took up to 10).
    static let interval = TimeAmount.seconds(1)
    /// Looks after a crowd's last trim when the trimmer trims once more (see the type's documentation).
    static let followUpLooks = 2
    /// How many clients must have left since the most seen before a trim is worth it.
    static let crowd = 1_000

    private let logger: Logger
    private var peak = 0
    /// Looks left until the follow-up trim; nil when none is due.
    private var followUp: Int?
    private var task: RepeatedTask?

    init(logger: Logger) {
        self.logger = logger
    }

    /// Starts looking at `count()` (the most connected since the last look, and now) every ``interval`` on
    /// `loop` (call it on that loop).
    func start(on loop: any EventLoop, count: @escaping () -> (peak: Int, now: Int)) {
        let bound = NIOLoopBound((trimmer: self, count: count), eventLoop: loop)
        task = loop.scheduleRepeatedTask(initialDelay: MemoryTrimmer.interval, delay: MemoryTrimmer.interval) { _ in
            let (peak, now) = bound.value.count()
            bound.value.trimmer.observe(now, peakSinceLastLook: peak)
        }
    }

    func stop() {
        task?.cancel()
        task = nil
    }

    /// Notes `connected` clients now (and at most `peakSinceLastLook` since the last look); trims when a crowd
    /// has left since the last trim, and once more ``followUpLooks`` looks after that. Returns whether it did.
    @discardableResult
    func observe(_ connected: Int, peakSinceLastLook: Int = 0) -> Bool {
        peak = max(peak, connected, peakSinceLastLook)
        guard peak - connected >= MemoryTrimmer.crowd else {
            // No new crowd: count down to the follow-up trim, if one is due.
            guard let looks = followUp else { return false }
            if looks > 1 {
                followUp = looks - 1
                return false
            }
            followUp = nil
            trim(left: 0)
            return true
        }
        let left = peak - connected
        peak = connected
        followUp = MemoryTrimmer.followUpLooks
        trim(left: left)
        return true
    }

    /// `malloc_trim(0)` on a global queue: it walks every arena under its lock, not for the event loop to wait on.
    private func trim(left: Int) {
        let logger = self.logger
        DispatchQueue.global(qos: .utility).async {
            _ = MemoryTrimmer.mallocTrim?(0)
            logger.debug("returned freed memory to the system after a crowd left", metadata: ["left": "\(left)"])
        }
    }

    /// glibc's `malloc_trim`, looked up at run time (`<malloc.h>` is not in Swift's Glibc module, and other C
    /// libraries have none: then there is nothing to trim).
    static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension MemoryTrimmer: Sendable {}
