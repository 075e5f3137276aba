/// The history events waiting in memory, in sequence order, with their estimated bytes: a FIFO whose settled
/// prefix is trimmed now and then, not per batch (a batch settles the front; removing it from an array each
/// time would move the rest).
///
/// Ownership: a value inside ``HistoryWriteStateMachine``.
struct HistoryQueue {
    /// One waiting event and its place in the order.
    struct Entry: Sendable {
        var sequence: UInt64
        var event: HistoryEvent
    }

    /// The queue is `entries[head...]`.
    private var entries: [Entry] = []
    private var head = 0
    /// Bytes of the events waiting (``HistoryEvent/estimatedBytes``).
    private(set) var bytes = 0

    /// Events waiting.
    var count: Int { entries.count - head }

    mutating func append(_ event: HistoryEvent, sequence: UInt64) {
        entries.append(Entry(sequence: sequence, event: event))
        bytes += event.estimatedBytes
    }

    /// The first `count` entries (`count` at most ``count``).
    func prefix(_ count: Int) -> ArraySlice<Entry> { entries[head..<head + count] }

    /// Every entry, in order.
    var all: ArraySlice<Entry> { entries[head...] }

    /// Removes the first `count` entries.
    mutating func removeFirst(_ count: Int) {
        for entry in entries[head..<head + count] { bytes -= entry.event.estimatedBytes }
        head += count
        if head >= 1_024 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        entries.removeAll()
        head = 0
        bytes = 0
    }
}
