import NIOCore
import SwitchboardHistory

/// Behind a front door (TLS, a PROXY header; see ``FrontDoor``) the connection is admitted when it is
/// accepted — so handshakes in progress count against `--max-clients` and `--max-per-ip` — but it gets its
/// history row and welcome only once ``FrontDoorOpened`` arrives; one that never gets through is withdrawn
/// (no row, no notice, no visit). Behind a proxy the per-address limit applies once the header names the
/// client. A refused client is told why once through the door, where it can read it.
///
extension ChatSession {
    /// Refused: says why, then closes (``ChatClient/refuse(_:)``).
    func refuse(_ refusal: Roster.Refusal) {
        state = .refused
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(encodeForTransport(refusal.line))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Admitted and being recorded (``ChatClient/admitted(_:)``): the chat's handlers after this one learn the
    /// connection is active now (behind a door they learnt it when it arrived).
    func admitted(_ id: ConnectionKey) {
        state = .admitted(id)
        recordedOpen = true
        if frontDoor == .none { context?.fireChannelActive() }
    }

    /// About to be welcomed (``ChatClient/joining(_:)``): not if it began to close while its number was awaited.
    func joining(_ id: ConnectionKey) -> Bool {
        guard case .admitted(let admitted) = state, admitted == id, context != nil else { return false }
        state = .joined(id)
        return true
    }

    /// Behind a front door: admitted now, so the handshake counts against the limits; opened once through.
    func enterTheDoor(context: ChannelHandlerContext) {
        // Behind a proxy the connection's address is the proxy's: the per-address limit waits for the header.
        if frontDoor.proxyHeader { address = nil }
        switch hub.arriveAtTheDoor(self) {
        case .success(let id): state = .atTheDoor(id)
        case .failure(let refusal): state = .refusedAtTheDoor(refusal)
        }
        context.fireChannelActive()
    }

    /// Through the front door: the client's own address (behind a proxy); the hub records and welcomes it, or
    /// refuses it with the refusal it could not be told before.
    func passedTheDoor(_ opened: FrontDoorOpened, context: ChannelHandlerContext) {
        if let client = opened.client {
            address = client.ipAddress
            peer = client.displayString
        }
        switch state {
        case .refusedAtTheDoor(let refusal): hub.refusedAtTheDoor(self, refusal)
        case .atTheDoor(let id): hub.passedTheDoor(self, id)
        default: break
        }
    }
}
