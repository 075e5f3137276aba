import NIOCore

/// Back-pressure from what consumes chat lines after the fan-out (the history writer, the other servers) to
/// the clients who say them.
///
/// While any consumer is behind, a client that has said ``ChatSession/linesPerBehindEpisode`` lines since it
/// fell behind says no more until every consumer has caught up: its input waits (its reads are held, so TCP
/// pushes back on it) while everyone else chats on. Nothing is dropped.
///
/// Ownership: the hub's; used on the hub's event loop only.
final class ProducerGate {
    private let eventLoop: any EventLoop
    /// The consumers behind now.
    private var behindSources: Set<ChatHub.BehindSource> = []
    /// Counts the times some consumer fell behind while none was: a session that says its share of lines
    /// during an episode says no more until the episode ends.
    private(set) var episode: UInt64 = 0
    /// Sessions holding a line until every consumer has caught up.
    private var waiting: [any ChatClient] = []
    private var reliefScheduled = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Whether some consumer of chat lines is behind.
    var isBehind: Bool { !behindSources.isEmpty }

    /// `source` fell behind (`true`) or caught up (`false`).
    func setBehind(_ source: ChatHub.BehindSource, _ behind: Bool) {
        let wasBehind = isBehind
        if behind { behindSources.insert(source) } else { behindSources.remove(source) }
        if !wasBehind && isBehind { episode &+= 1 }
        if wasBehind && !isBehind && !waiting.isEmpty && !reliefScheduled {
            // Not from inside the caller (a writer's callback): the sessions drain in a task of their own.
            reliefScheduled = true
            eventLoop.assumeIsolated().execute { self.release() }
        }
    }

    /// `session` holds its next line until every consumer has caught up; then it is ``ChatClient/relieved()``.
    func wait(_ session: any ChatClient) {
        waiting.append(session)
    }

    private func release() {
        reliefScheduled = false
        guard !isBehind else { return }  // behind again already: they wait for the next relief
        let released = waiting
        waiting.removeAll()
        for session in released { session.relieved() }
    }
}

// Confined to the hub's event loop; see the type's documentation.
@available(*, unavailable)
extension ProducerGate: Sendable {}
