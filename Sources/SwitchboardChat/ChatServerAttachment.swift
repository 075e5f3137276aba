import Logging
import NIOCore
import SwitchboardDatabase
import SwitchboardProtocol

/// Something that serves beside the chat's own listeners on the same hub — the web listener, the metrics
/// endpoint (`SwitchboardWeb`) — without the chat module knowing what it is.
///
/// ``ChatServer`` starts each attachment once the hub runs and the chat listens (so a browser's first
/// WebSocket finds the hub ready), and stops it right after closing its own listeners, before the hub tells
/// everyone `* server shutting down`: connections an attachment handed to the hub as chat sessions are
/// closed by the hub like any other.
public protocol ChatServerAttachment: AnyObject, Sendable {
    /// Starts serving; a thrown error fails the server's start (logged and mapped like a listen error).
    func start(_ runtime: ChatServerRuntime) async throws
    /// Stops accepting and closes what is not a chat session. Bounded; called at most once after a start.
    func stop() async
    /// The certificate files of the attachment's `ssl:` endpoints: the server loads them at start with its own
    /// (a bad file stops the start naming it), reloads them on SIGHUP and at `--tls-reload-interval`, and lends
    /// them through ``ChatServerRuntime/certificates``. Read once, before the start.
    var certificateFiles: [TLSFiles] { get }
}

extension ChatServerAttachment {
    /// No `ssl:` endpoints.
    public var certificateFiles: [TLSFiles] { [] }
}

/// What a running ``ChatServer`` lends its attachments.
public struct ChatServerRuntime: Sendable {
    /// The server itself (its ``ChatServer/snapshot()`` for the metrics).
    public let server: ChatServer
    /// The hub, on its loop: every connection that joins the chat must live on ``eventLoop``.
    public let hub: NIOLoopBound<ChatHub>
    /// The loop of the hub and all its sessions.
    public var eventLoop: any EventLoop { hub.eventLoop }
    /// The server's database pool (for reads such as the dashboard's).
    public let pool: DatabasePool
    /// The server's configuration.
    public let configuration: ServerConfiguration
    /// The server's logger.
    public let logger: Logger
    /// The loaded certificate of every `ssl:` endpoint, the attachments' included (``ChatServerAttachment/certificateFiles``):
    /// each store hands out its current context, so a connection made after a reload gets the renewed one.
    public let certificates: [TLSFiles: TLSCertificateStore]
}
