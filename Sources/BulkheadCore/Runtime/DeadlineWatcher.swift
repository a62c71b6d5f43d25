import Foundation

/// Fires each call's deadline on one thread the core owns: a heap of
/// deadlines and a condition variable with a timed wait. One thread for the
/// whole server, instead of a timer per call, keeps the cost of a call that
/// ends in time to a heap insertion and a dictionary removal. Ended calls'
/// heap entries are skipped when they come up, and the heap is rebuilt when
/// they outnumber the live ones, so memory follows the calls in flight, not
/// the calls of the last deadline's worth of time.
///
/// The live timers are also the registry of every call that can still be
/// answered: at the drain deadline a host fires its own timers early
/// (``fireAll(owner:)``), so each call still in flight is answered through the
/// same one-shot path as at its deadline, without a second registry to keep
/// on every call's hot path.
final class DeadlineWatcher: @unchecked Sendable {
    static let shared = DeadlineWatcher()

    /// Why a timer fired.
    enum Firing: Sendable {
        /// Its deadline came.
        case deadline
        /// Its owner is shutting down and answers its calls now.
        case shutdown
    }

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var heap: [(at: UInt64, id: UInt64)] = []
    private var live: [UInt64: (owner: ObjectIdentifier, fire: @Sendable (Firing) -> Void)] = [:]
    private var nextID: UInt64 = 0
    private var started = false

    /// Calls `fire(.deadline)` at monotonic time `at` (nanoseconds) on the
    /// watcher's thread, unless `cancel` is called first with the returned id,
    /// or `fireAll(owner:)` fires it earlier. `fire` runs at most once and must be quick.
    func schedule(at: UInt64, owner: ObjectIdentifier, _ fire: @escaping @Sendable (Firing) -> Void) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextID &+= 1
        let id = nextID
        live[id] = (owner, fire)
        push((at, id))
        if !started {
            started = true
            let t = Thread { [self] in run() }
            t.name = "bh-deadlines"
            t.start()
        }
        if heap[0].id == id { condition.signal() }
        return id
    }

    /// Fires `.shutdown` now, on the calling thread, for every pending timer of `owner`.
    func fireAll(owner: ObjectIdentifier) {
        condition.lock()
        var due: [(id: UInt64, fire: @Sendable (Firing) -> Void)] = []
        for (id, entry) in live where entry.owner == owner { due.append((id, entry.fire)) }
        for entry in due { live.removeValue(forKey: entry.id) }
        condition.unlock()
        // In scheduling order, so calls are answered in the order they began.
        for entry in due.sorted(by: { $0.id < $1.id }) { entry.fire(.shutdown) }
    }

    func cancel(_ id: UInt64) {
        condition.lock()
        defer { condition.unlock() }
        live.removeValue(forKey: id)
        if heap.count > 1024 && heap.count > 4 * live.count { rebuild() }
    }

    private func push(_ e: (at: UInt64, id: UInt64)) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0, heap[(i - 1) / 2].at > heap[i].at {
            heap.swapAt(i, (i - 1) / 2)
            i = (i - 1) / 2
        }
    }

    private func popMin() -> (at: UInt64, id: UInt64) {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count, heap[l].at < heap[m].at { m = l }
                if r < heap.count, heap[r].at < heap[m].at { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    /// Drops the entries of ended calls.
    private func rebuild() {
        let keep = heap.filter { live[$0.id] != nil }
        heap.removeAll(keepingCapacity: true)
        for e in keep { push(e) }
    }

    private func run() {
        condition.lock()
        while true {
            guard let next = heap.first else {
                condition.wait()
                continue
            }
            guard live[next.id] != nil else {
                _ = popMin()
                continue
            }
            let now = MonotonicClock.now()
            if next.at <= now {
                _ = popMin()
                let fire = live.removeValue(forKey: next.id)?.fire
                condition.unlock()
                fire?(.deadline)
                condition.lock()
                continue
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(next.at - now) / 1e9))
        }
    }
}
