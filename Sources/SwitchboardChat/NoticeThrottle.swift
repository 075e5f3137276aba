import NIOCore

/// Whether a join or leave is announced by name or counted into one batched line: a value, with the clock
/// and the rate passed in (the rate can change while the server runs).
///
/// ```
///  named:    up to `rate` notices in a one-second window, each by name
///  counted:  past that, each is counted; one second later the hub says
///            `* 37 joined, 12 left (10025 clients connected)` and batching goes on for as long as a second
///            still brings more than `rate`
/// ```
/// So a crowd arriving or a network blip dropping thousands costs O(N) lines, not N²/2.
///
/// Ownership: a value inside the hub, used on its event loop.
struct NoticeThrottle {
    /// What to do with one notice.
    enum Decision: Equatable {
        case named
        /// Counted for the batched line; `startTimer`: this notice began a batch, so the hub schedules the
        /// line for a second later (``timerFired(rate:now:)``).
        case counted(startTimer: Bool)
    }

    /// The batched line's counts.
    struct Batch: Equatable {
        var joined: Int
        var left: Int
    }

    private var windowStart: NIODeadline
    private var inWindow = 0
    /// A batch is under way: notices are counted until its timer fires.
    private(set) var isBatching = false
    private var batch = Batch(joined: 0, left: 0)

    init(now: NIODeadline) {
        windowStart = now
    }

    /// A join (`joined`) or a leave to announce.
    mutating func notice(joined: Bool, rate: Int, now: NIODeadline) -> Decision {
        guard rate > 0 else { return .named }
        var starting = false
        if !isBatching {
            if now - windowStart >= .seconds(1) {
                windowStart = now
                inWindow = 0
            }
            if inWindow < rate {
                inWindow += 1
                return .named
            }
            isBatching = true
            starting = true
            inWindow = 0
        }
        inWindow += 1
        if joined { batch.joined += 1 } else { batch.left += 1 }
        return .counted(startTimer: starting)
    }

    /// The batch's second is up: the line to say (nothing if nothing was counted), and whether a storm goes on
    /// (then the hub schedules the timer again).
    mutating func timerFired(rate: Int, now: NIODeadline) -> (batch: Batch?, continues: Bool) {
        let said = batch.joined > 0 || batch.left > 0 ? batch : nil
        let continues = inWindow > rate
        batch = Batch(joined: 0, left: 0)
        inWindow = 0
        windowStart = now
        isBatching = continues
        return (said, continues)
    }
}
