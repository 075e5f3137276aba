import NIOCore

/// Visitor numbers the database has reserved for this server, handed out without a round trip — the way a
/// sequence caches values. A value: the ``ChatHub`` owns one on its loop and asks the database for another
/// block when half of one is left.
///
/// ```
///   reserve 128 ──▶ [1000..<1128]   take → 1000, 1001, …   half left ──▶ reserve 128 ──▶ [.., 1128..<1256]
///   database down: take → nil (the welcome waits for its row, or says #unknown); retry a refill a second later
/// ```
/// Numbers only grow: every block the database reserves is above the ones before it.
struct VisitorNumbers {
    /// How many numbers one reservation takes; 0 turns reservation off (every welcome waits for its row).
    let blockSize: Int
    private var blocks: [Range<Int64>] = []
    private(set) var isRefilling = false
    private var retryAt: NIODeadline?

    /// How long a failed reservation waits before the next try.
    static let retryDelay = TimeAmount.seconds(1)

    init(blockSize: Int) {
        self.blockSize = max(0, blockSize)
    }

    /// Numbers in hand.
    var available: Int { blocks.reduce(0) { $0 + $1.count } }

    /// The next number, if one is in hand.
    mutating func take() -> Int64? {
        while let first = blocks.first {
            guard let number = first.first else {
                blocks.removeFirst()
                continue
            }
            blocks[0] = first.dropFirst()
            return number
        }
        return nil
    }

    /// Whether to ask the database for another block now.
    func needsRefill(now: NIODeadline) -> Bool {
        blockSize > 0 && !isRefilling && available <= blockSize / 2 && (retryAt.map { now >= $0 } ?? true)
    }

    mutating func refillStarted() { isRefilling = true }

    mutating func refilled(_ block: Range<Int64>) {
        isRefilling = false
        retryAt = nil
        blocks.append(block)
    }

    /// At shutdown: what is left of the newest block (the only numbers that can go back to the database,
    /// being just below its counter), handing out nothing more.
    mutating func takeUnused() -> Range<Int64>? {
        defer { blocks.removeAll() }
        guard let last = blocks.last, !last.isEmpty else { return nil }
        return last
    }

    mutating func refillFailed(now: NIODeadline) {
        isRefilling = false
        retryAt = now + VisitorNumbers.retryDelay
    }
}
