import NIOCore
import Synchronization

/// Tells the request a connection is serving that its client went away.
///
/// Closing a response stream is how an MCP client cancels over HTTP. One
/// callback is registered on each connection's close future, the first time
/// it carries a request, and it tells whichever exchange the connection is
/// serving then (HTTP/1.1 serves one at a time): a callback per request would
/// pile up on a keep-alive connection that carries many.
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
        channel.closeFuture.whenComplete { [self] _ in
            let current = entries.withLock { $0.removeValue(forKey: key)?.current }
            current?.clientClosed()
        }
    }

    func detach(_ exchange: Exchange, from channel: any Channel) {
        let key = ObjectIdentifier(channel)
        entries.withLock { e in
            if let current = e[key]?.current, current === exchange { e[key]!.current = nil }
        }
    }
}
