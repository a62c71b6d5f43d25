import BulkheadProtocol
import Synchronization

/// One client request's stream: the messages that belong to it, from the
/// threads tool calls end on to the task writing its HTTP response.
///
/// The protocol layer delivers from any thread; one task takes events off
/// with `next()`. The stream ends after the request's response, and anything
/// delivered later (a plugin's progress after it returned) is dropped.
final class Exchange: Sendable {
    enum Event: Sendable {
        /// A message of this request; `final` for its response.
        case message([UInt8], final: Bool)
        /// Time for an SSE keep-alive comment.
        case tick
        /// The client closed the connection.
        case closed
    }

    private struct State {
        var queue: [Event] = []
        var head = 0
        var waiter: CheckedContinuation<Event?, Never>?
        var finished = false
        /// Notifications queued and not yet taken. A plugin that logs faster than
        /// the client reads loses lines past the bound rather than growing memory;
        /// the response itself is never dropped.
        var pendingNotifications = 0

        mutating func take() -> Event? {
            guard head < queue.count else { return nil }
            let event = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            }
            if case .message(_, final: false) = event { pendingNotifications -= 1 }
            return event
        }
    }

    static let maxPendingNotifications = 1024
    private let state = Mutex(State())

    init() {}

    /// The next event; nil once the stream ended and everything was taken.
    func next() async -> Event? {
        await withCheckedContinuation { (c: CheckedContinuation<Event?, Never>) in
            state.withLock { s in
                if let event = s.take() {
                    c.resume(returning: event)
                } else if s.finished {
                    c.resume(returning: nil)
                } else {
                    s.waiter = c
                }
            }
        }
    }

    private func push(_ event: Event, ends: Bool) {
        state.withLock { s in
            guard !s.finished else { return }
            if case .message(_, final: false) = event {
                guard s.pendingNotifications < Self.maxPendingNotifications else { return }
                s.pendingNotifications += 1
            }
            if ends { s.finished = true }
            if let waiter = s.waiter {
                s.waiter = nil
                if case .message(_, final: false) = event { s.pendingNotifications -= 1 }
                waiter.resume(returning: event)
            } else {
                s.queue.append(event)
            }
        }
    }

    func deliver(_ message: [UInt8], final: Bool) {
        push(.message(message, final: final), ends: final)
    }

    func tick() {
        state.withLock { s in
            // A tick is only worth anything to a writer that is waiting.
            guard !s.finished, let waiter = s.waiter else { return }
            s.waiter = nil
            waiter.resume(returning: .tick)
        }
    }

    func clientClosed() {
        push(.closed, ends: true)
    }

    /// Ends the stream (a session ended, the server shuts down); the writer sees nil.
    func finish() {
        state.withLock { s in
            guard !s.finished else { return }
            s.finished = true
            if let waiter = s.waiter {
                s.waiter = nil
                waiter.resume(returning: nil)
            }
        }
    }

    var isFinished: Bool { state.withLock { $0.finished } }
}

/// The sink of a 2026-07-28 request's own engine: everything it sends is this request's.
struct ExchangeSink: MessageSink {
    let exchange: Exchange

    func send(_ message: [UInt8]) {
        exchange.deliver(message, final: false)
    }

    func send(_ message: [UInt8], route: MessageRoute) {
        if case .response = route {
            exchange.deliver(message, final: true)
        } else {
            exchange.deliver(message, final: false)
        }
    }
}
