import NIOCore
import Synchronization

/// Tells the request a connection is serving that its client went away.
///
/// Closing a response stream is how an MCP client cancels over HTTP. The
/// first time a connection carries a request, a small handler is put at the
/// front of its pipeline; when the client's side closes (Hummingbird allows
/// half-closure, so a FIN alone does not close the channel and only this
/// event tells) or the channel goes inactive, it tells whichever exchange the
/// connection is serving then (HTTP/1.1 serves one at a time). One handler
/// per connection, not a callback per request, which would pile up on a
/// keep-alive connection that carries many.
final class ConnectionWatch: Sendable {
    private struct Entry {
        var current: Exchange?
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    func attach(_ exchange: Exchange, to channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let isNew = entries.withLock { e -> Bool in
            if e[key] != nil {
                e[key]!.current = exchange
                return false
            }
            e[key] = Entry(current: exchange)
            return true
        }
        guard isNew else { return }
        let gone: @Sendable () -> Void = { [self] in
            let current = entries.withLock { $0.removeValue(forKey: key)?.current }
            current?.clientClosed()
        }
        channel.pipeline.addHandler(ClientGoneHandler(gone), position: .first).whenFailure { _ in gone() }
        channel.closeFuture.whenComplete { _ in gone() }
    }

    func detach(_ exchange: Exchange, from channel: any Channel) {
        let key = ObjectIdentifier(channel)
        entries.withLock { e in
            if let current = e[key]?.current, current === exchange { e[key]!.current = nil }
        }
    }
}

/// Reports the client's side of a connection closing.
private final class ClientGoneHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let gone: @Sendable () -> Void

    init(_ gone: @escaping @Sendable () -> Void) {
        self.gone = gone
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed? = event as? ChannelEvent { gone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone()
        context.fireChannelInactive()
    }
}
