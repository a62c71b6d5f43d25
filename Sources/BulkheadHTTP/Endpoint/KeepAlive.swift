import Synchronization

/// One timer for every open response stream: each interval, every exchange
/// still waiting gets a tick (an SSE keep-alive comment, or the switch from
/// waiting for a JSON answer to streaming). One task for the whole endpoint
/// rather than a timer per request, which would cost every fast call a timer
/// set and cancelled.
final class KeepAlive: Sendable {
    final class Registration: Sendable {
        fileprivate let id: UInt64
        fileprivate let owner: KeepAlive

        fileprivate init(id: UInt64, owner: KeepAlive) {
            self.id = id
            self.owner = owner
        }

        func cancel() {
            _ = owner.exchanges.withLock { $0.removeValue(forKey: id) }
        }
    }

    private let interval: Duration
    fileprivate let exchanges = Mutex<[UInt64: Exchange]>([:])
    private let next = Atomic<UInt64>(0)
    private let started = Atomic<Bool>(false)

    init(interval: Duration) {
        self.interval = interval
    }

    func register(_ exchange: Exchange) -> Registration {
        let id = next.add(1, ordering: .relaxed).newValue
        exchanges.withLock { $0[id] = exchange }
        if !started.load(ordering: .relaxed),
           started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            let interval = self.interval
            Task.detached { [weak self] in
                while true {
                    try? await Task.sleep(for: interval)
                    guard let self else { return }
                    let open = self.exchanges.withLock { Array($0.values) }
                    for exchange in open { exchange.tick() }
                }
            }
        }
        return Registration(id: id, owner: self)
    }
}
