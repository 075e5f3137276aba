import NIOCore

/// Behind a front door (TLS, a PROXY header; see ``FrontDoor``) the connection is admitted when it is
/// accepted — so handshakes in progress count against `--max-clients` and `--max-per-ip` — but it gets its
/// history row and welcome only once ``FrontDoorOpened`` arrives; one that never gets through is withdrawn
/// (no row, no notice, no visit). Behind a proxy the per-address limit applies once the header names the
/// client. A refused client is told why once through the door, where it can read it.
///
extension ChatSession {
    func refuse(_ refusal: Roster.Refusal, context: ChannelHandlerContext) {
        state = .refused
        context.writeAndFlush(wrapOutboundOut(encodeForTransport(refusal.line))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Behind a front door: admitted now, so the handshake counts against the limits; opened once through.
    func enterTheDoor(context: ChannelHandlerContext) {
        // Behind a proxy the connection's address is the proxy's: the per-address limit waits for the header.
        if frontDoor.proxyHeader { address = nil }
        switch hub.admit(self, recordingRefusal: false) {
        case .success(let id): state = .atTheDoor(id)
        case .failure(let refusal): state = .refusedAtTheDoor(refusal)
        }
        context.fireChannelActive()
    }

    /// Through the front door: the client's own address (behind a proxy), then the row and the welcome, or
    /// the refusal the client could not be told before.
    func passedTheDoor(_ opened: FrontDoorOpened, context: ChannelHandlerContext) {
        if let client = opened.client {
            address = client.ipAddress
            peer = client.displayString
        }
        switch state {
        case .refusedAtTheDoor(let refusal):
            hub.recordRefusal(self, refusal)
            refuse(refusal, context: context)
        case .atTheDoor(let id):
            if case .failure(let refusal) = hub.readdress(self, id) {
                hub.withdraw(self, id)
                hub.recordRefusal(self, refusal)
                refuse(refusal, context: context)
                return
            }
            state = .admitted(id)
            open(id)
        default:
            break
        }
    }
}
