import Synchronization

/// One handshake-era consent question between being asked and being answered,
/// cancelled or expired: whichever comes first decides, exactly once, so an
/// answer that arrives as the question expires cannot also run the write.
final class PendingConsent: Sendable {
    private struct State {
        var answered = false
        var expired = false
        var timer: UInt64?
    }

    private let state = Mutex(State())

    /// The client's answer (or a cancel, or the connection's end) arrived.
    /// Returns whether the question had expired first: then the answer counts for nothing.
    func answered() -> Bool {
        let (expired, timer) = state.withLock { s in
            s.answered = true
            defer { s.timer = nil }
            return (s.expired, s.timer)
        }
        if let timer { DeadlineWatcher.shared.cancel(timer) }
        return expired
    }

    /// The TTL passed. True when no answer came first: the question is expired from now on.
    func expire() -> Bool {
        state.withLock { s in
            guard !s.answered else { return false }
            s.expired = true
            return true
        }
    }

    /// The expiry timer, cancelled once the question is answered (at once if it already was).
    func arm(_ timer: UInt64) {
        let already = state.withLock { s in
            if s.answered { return true }
            s.timer = timer
            return false
        }
        if already { DeadlineWatcher.shared.cancel(timer) }
    }
}
