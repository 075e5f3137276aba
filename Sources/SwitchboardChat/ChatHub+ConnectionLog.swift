import Logging
import NIOCore
import SwitchboardHistory

/// The log's one line per connection accepted and one per connection closed, at info level: who, how,
/// how long, how much — never what was said (a `/quit` message is logged as `quit`, not its text).
extension ChatHub {
    func logAccepted(_ session: any ChatClient, _ id: ConnectionKey, nickname: String, visitor: Int64?) {
        logger.info(
            "connection accepted",
            metadata: [
                "conn": "\(id.rawValue)", "peer": "\(session.peer)", "via": "\(session.frontDoor)",
                "visitor": "\(visitor.map(String.init) ?? "unknown")", "nick": "\(nickname)",
            ])
    }

    func logClosed(_ session: any ChatClient, _ id: ConnectionKey, member: Roster.Member, reason: String, traffic: Traffic) {
        let duration = Double((eventLoop.now - session.acceptedAt).nanoseconds / 1_000_000) / 1_000
        logger.info(
            "connection closed",
            metadata: [
                "conn": "\(id.rawValue)", "peer": "\(session.peer)", "via": "\(session.frontDoor)",
                "visitor": "\(member.visitor.map(String.init) ?? "unknown")", "nick": "\(member.nickname ?? "")",
                "reason": "\(ChatHub.loggableReason(reason))", "duration-s": "\(duration)",
                "lines-in": "\(traffic.linesIn)", "lines-out": "\(traffic.linesOut)",
                "bytes-in": "\(traffic.bytesIn)", "bytes-out": "\(traffic.bytesOut)",
            ])
    }

    /// The close reason without what the user wrote: `quit: gone fishing` is `quit`.
    static func loggableReason(_ reason: String) -> String {
        reason.hasPrefix("quit:") ? "quit" : reason
    }
}
