import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardChat

/// Switchboard's metrics, made through an injected swift-metrics `MetricsFactory` (never the process-wide
/// `MetricsSystem`, so tests each get their own) and fed from ``ChatServerSnapshot``s.
///
/// The server counts in plain integers where things happen (``ChatCounters``, the pool's, the writer's, the
/// cluster link's); ``update(from:)`` — at each scrape — turns what changed since the last update into
/// counter increments and sets the gauges. Names follow Prometheus' conventions: `switchboard_` prefix,
/// `_total` on counters, base units (seconds, bytes); labels are small fixed sets (transport, reason, kind),
/// never a nickname or an address.
///
/// | metric | type | labels |
/// |--------|------|--------|
/// | `switchboard_clients_connected` | gauge | `transport` (`telnet`, `websocket`) |
/// | `switchboard_connections_accepted_total` | counter | `transport` |
/// | `switchboard_connections_refused_total` | counter | `reason` (`server_full`, `too_many_from_address`) |
/// | `switchboard_connections_closed_total` | counter | `reason` (`quit`, `connection_closed`, `idle_timeout`, `send_queue_exceeded`, `server_shutdown`) |
/// | `switchboard_lines_received_total` | counter | |
/// | `switchboard_deliveries_total` | counter | |
/// | `switchboard_received_bytes_total`, `switchboard_sent_bytes_total` | counter | |
/// | `switchboard_flood_dropped_lines_total` | counter | |
/// | `switchboard_send_queue_disconnects_total` | counter | |
/// | `switchboard_history_events_queued` | gauge | |
/// | `switchboard_history_events_written_total`, `switchboard_history_events_dropped_total` | counter | |
/// | `switchboard_history_batch_duration_seconds` | histogram | |
/// | `switchboard_database_errors_total` | counter | `kind` |
/// | `switchboard_database_pool_queue_depth` | gauge | |
/// | `switchboard_cluster_notify_sent_total`, `switchboard_cluster_notify_received_total` | counter | |
/// | `switchboard_cluster_inbox_dropped_total` | counter | |
/// | `switchboard_cluster_servers_alive` | gauge | |
/// | `switchboard_build_info` | gauge (1) | `version` |
///
/// Thread-safety: ``update(from:)`` and ``recordHistoryBatch(_:)`` from any thread (a lock orders updates).
public final class SwitchboardMetrics: Sendable {
    private let factory: any MetricsFactory
    private let batchDuration: CoreMetrics.Timer
    private let state = NIOLockedValueBox(State())

    private struct State {
        var counters: [Key: Counter] = [:]
        var gauges: [Key: Gauge] = [:]
        /// What each counter was at the last update: the next one adds the difference.
        var last: [Key: Int64] = [:]
    }

    private struct Key: Hashable {
        var name: String
        var label: String?
        var value: String?
    }

    /// Each metric's one-line description (the `# HELP` line in Prometheus' format).
    public static let descriptions: [String: String] = [
        "switchboard_clients_connected": "Clients in the chat now on this server, by transport.",
        "switchboard_connections_accepted_total": "Connections admitted to the chat, by transport.",
        "switchboard_connections_refused_total": "Connections refused (server full, too many from one address).",
        "switchboard_connections_closed_total": "Chat connections closed, by reason.",
        "switchboard_lines_received_total": "Whole lines received from clients.",
        "switchboard_deliveries_total": "Lines queued to clients by broadcasts, one per recipient.",
        "switchboard_received_bytes_total": "Bytes read from chat clients.",
        "switchboard_sent_bytes_total": "Bytes handed to chat clients' sockets.",
        "switchboard_flood_dropped_lines_total": "Lines dropped by flood control.",
        "switchboard_send_queue_disconnects_total": "Clients disconnected for not reading (--max-sendq).",
        "switchboard_history_events_queued": "History events waiting to be written.",
        "switchboard_history_events_written_total": "History events committed to the database.",
        "switchboard_history_events_dropped_total": "History events dropped (queue and spool full).",
        "switchboard_history_batch_duration_seconds": "Time from asking the pool to write a history batch to its outcome.",
        "switchboard_database_errors_total": "Failed database interactions, by kind.",
        "switchboard_database_pool_queue_depth": "Database interactions waiting for a pool thread.",
        "switchboard_cluster_notify_sent_total": "Cluster payloads sent to the other servers (NOTIFY).",
        "switchboard_cluster_notify_received_total": "Cluster payloads received from the other servers.",
        "switchboard_cluster_inbox_dropped_total": "Cluster payloads dropped because this server fell behind.",
        "switchboard_cluster_servers_alive": "Servers of the chat alive as this one sees them, itself included.",
        "switchboard_build_info": "Always 1; the version label says which build is running.",
    ]

    /// Makes the metrics through `factory`; `version` goes in `switchboard_build_info`.
    public init(factory: any MetricsFactory, version: String) {
        self.factory = factory
        self.batchDuration = CoreMetrics.Timer(label: "switchboard_history_batch_duration_seconds", factory: factory)
        Gauge(label: "switchboard_build_info", dimensions: [("version", version)], factory: factory).record(1)
        // The series people alert on exist from the start, at 0.
        let zero = ChatServerSnapshot(
            chat: ChatCounters(), historyQueued: 0, historyWritten: 0, historyDropped: 0, pool: .init(), cluster: nil,
            serversAlive: 1)
        update(from: zero)
    }

    /// One history batch's duration (``ChatServer/observeHistoryBatches(_:)``).
    public func recordHistoryBatch(_ duration: TimeAmount) {
        batchDuration.recordNanoseconds(duration.nanoseconds)
    }

    /// Brings every metric up to `snapshot`.
    public func update(from snapshot: ChatServerSnapshot) {
        state.withLockedValue { state in
            let chat = snapshot.chat
            for transport in ["telnet", "websocket"] where chat.connected[transport] == nil {
                gauge("switchboard_clients_connected", "transport", transport, 0, &state)
            }
            for (transport, count) in chat.connected {
                gauge("switchboard_clients_connected", "transport", transport, Double(count), &state)
            }
            for transport in Set(chat.accepted.keys).union(["telnet", "websocket"]) {
                count("switchboard_connections_accepted_total", "transport", transport, chat.accepted[transport] ?? 0, &state)
            }
            for reason in Set(chat.refused.keys).union(["server_full", "too_many_from_address"]) {
                count("switchboard_connections_refused_total", "reason", reason, chat.refused[reason] ?? 0, &state)
            }
            for (reason, closed) in chat.closed {
                count("switchboard_connections_closed_total", "reason", reason, closed, &state)
            }
            count("switchboard_lines_received_total", nil, nil, chat.linesIn, &state)
            count("switchboard_deliveries_total", nil, nil, chat.deliveries, &state)
            count("switchboard_received_bytes_total", nil, nil, chat.bytesIn, &state)
            count("switchboard_sent_bytes_total", nil, nil, chat.bytesOut, &state)
            count("switchboard_flood_dropped_lines_total", nil, nil, chat.floodDrops, &state)
            count("switchboard_send_queue_disconnects_total", nil, nil, chat.sendQueueDisconnects, &state)
            gauge("switchboard_history_events_queued", nil, nil, Double(snapshot.historyQueued), &state)
            count("switchboard_history_events_written_total", nil, nil, Int64(snapshot.historyWritten), &state)
            count("switchboard_history_events_dropped_total", nil, nil, Int64(snapshot.historyDropped), &state)
            for kind in Set(snapshot.pool.errors.keys).union(["connect_failed", "connection_lost", "busy", "statement_failed"]) {
                count("switchboard_database_errors_total", "kind", kind, snapshot.pool.errors[kind] ?? 0, &state)
            }
            gauge("switchboard_database_pool_queue_depth", nil, nil, Double(max(0, snapshot.pool.waiting)), &state)
            let cluster = snapshot.cluster
            count("switchboard_cluster_notify_sent_total", nil, nil, Int64(cluster?.sent ?? 0), &state)
            count("switchboard_cluster_notify_received_total", nil, nil, Int64(cluster?.received ?? 0), &state)
            count("switchboard_cluster_inbox_dropped_total", nil, nil, Int64(cluster?.dropped ?? 0), &state)
            gauge("switchboard_cluster_servers_alive", nil, nil, Double(snapshot.serversAlive), &state)
        }
    }

    private func dimensions(_ label: String?, _ value: String?) -> [(String, String)] {
        guard let label, let value else { return [] }
        return [(label, value)]
    }

    /// Adds to the counter what `total` grew by since the last update.
    private func count(_ name: String, _ label: String?, _ value: String?, _ total: Int64, _ state: inout State) {
        let key = Key(name: name, label: label, value: value)
        let counter = state.counters[key] ?? {
            let made = Counter(label: name, dimensions: dimensions(label, value), factory: factory)
            state.counters[key] = made
            return made
        }()
        let grown = total - (state.last[key] ?? 0)
        if grown > 0 { counter.increment(by: grown) }
        state.last[key] = max(total, state.last[key] ?? 0)
    }

    private func gauge(_ name: String, _ label: String?, _ value: String?, _ level: Double, _ state: inout State) {
        let key = Key(name: name, label: label, value: value)
        let gauge = state.gauges[key] ?? {
            let made = Gauge(label: name, dimensions: dimensions(label, value), factory: factory)
            state.gauges[key] = made
            return made
        }()
        gauge.record(level)
    }
}
