// nio-floor — relay.c's protocol on SwiftNIO, with nothing else: what NIO itself costs per connection and per
// delivery on this machine, so a benchmark can tell NIO's share of Switchboard's cost from Switchboard's own.
//
//   on connect:        "* welcome\r\n"
//   line "text" from guestN  →  "<guestN> text\r\n" to every OTHER client
//   line "/quit"       →  that client is closed
//
// One event loop; every client on it. A read's lines are encoded once into one buffer and written to every
// other client, and each client written to is flushed once at the end of the read (as Switchboard flushes
// once a tick). No limits, no telnet, no database, no logging.
//
// Usage: nio-floor PORT   (listens on 127.0.0.1 only)
import NIOCore
import NIOPosix

guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]) else {
    print("usage: nio-floor PORT")
    exit(2)
}

/// Every client, on the one event loop. Not Sendable: touched on that loop only.
final class Room {
    var clients: [ObjectIdentifier: Client] = [:]
    var nextGuest = 0
    /// Clients written to since the last flush.
    var dirty: [Client] = []
}

final class Client: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let room: Room
    var guest = 0
    var context: ChannelHandlerContext?
    var pending = ByteBuffer()
    var isDirty = false

    init(room: Room) { self.room = room }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        room.nextGuest += 1
        guest = room.nextGuest
        room.clients[ObjectIdentifier(self)] = self
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "* welcome\r\n")), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        room.clients[ObjectIdentifier(self)] = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        pending.writeBuffer(&input)
        var out = ByteBuffer()
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            var line = pending.readSlice(length: length)!
            pending.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
            if line.readableBytesView.elementsEqual("/quit".utf8) {
                context.close(promise: nil)
                return
            }
            out.writeString("<guest\(guest)> ")
            out.writeBuffer(&line)
            out.writeString("\r\n")
        }
        pending.discardReadBytes()
        guard out.readableBytes > 0 else { return }
        for other in room.clients.values where other !== self {
            other.context?.write(wrapOutboundOut(out), promise: nil)
            if !other.isDirty {
                other.isDirty = true
                room.dirty.append(other)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        let dirty = room.dirty
        room.dirty.removeAll(keepingCapacity: true)
        for client in dirty {
            client.isDirty = false
            client.context?.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let room = try loop.submit { NIOLoopBound(Room(), eventLoop: loop) }.wait()
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(Client(room: room.value))
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .wait()
try server.closeFuture.wait()
