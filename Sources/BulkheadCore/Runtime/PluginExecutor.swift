#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// Runs one plugin's calls on threads the core owns, never on Swift's
/// cooperative pool: a plugin call may block for seconds, and a blocked
/// cooperative thread would stall unrelated work.
///
/// Each plugin has its own executor, so a slow plugin cannot starve another.
/// A serial plugin gets one thread, so its calls never overlap. A parallel
/// plugin gets as many threads as there are cores straight away, and more
/// (up to `maxThreads`) only when queued calls have waited `stallAfter`
/// behind busy threads — that is, when its calls block rather than compute.
/// Starting a thread per queued call instead would, under a pipelined load on
/// few cores, trade throughput for lock contention and context switches.
final class PluginExecutor: @unchecked Sendable {
    private let name: String
    private let maxThreads: Int
    private let eagerThreads: Int
    private let stallAfter: UInt64
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [(job: @Sendable () -> Void, queuedAt: UInt64)] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private var stopping = false
    private var stallCheckPending = false

    init(name: String, maxThreads: Int, stallAfterNanoseconds: UInt64 = 2_000_000) {
        self.name = name
        self.maxThreads = max(1, maxThreads)
        self.eagerThreads = min(self.maxThreads, max(2, ProcessInfo.processInfo.activeProcessorCount))
        self.stallAfter = stallAfterNanoseconds
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append((job, MonotonicClock.now()))
        var spawn = false
        var checkLater = false
        if queue.count - head > idle && threads < maxThreads {
            if threads < eagerThreads {
                threads += 1
                spawn = true
            } else if !stallCheckPending {
                stallCheckPending = true
                checkLater = true
            }
        }
        condition.signal()
        condition.unlock()
        if spawn { startThread() }
        if checkLater { scheduleStallCheck() }
    }

    /// Lets queued calls finish, then ends the threads.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func scheduleStallCheck() {
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(stallAfter))) { [self] in
            condition.lock()
            stallCheckPending = false
            let waiting = queue.count - head
            let stalled = waiting > idle && threads < maxThreads
                && MonotonicClock.now() - queue[head].queuedAt >= stallAfter
            let again = waiting > 0 && !stalled && threads < maxThreads
            if stalled { threads += 1 }
            if again || stalled && waiting > 1 { stallCheckPending = true }
            condition.unlock()
            if stalled { startThread() }
            if again || stalled && waiting > 1 { scheduleStallCheck() }
        }
    }

    private func startThread() {
        let thread = Thread { [self] in self.work() }
        thread.name = "bh-\(name)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func work() {
        while true {
            condition.lock()
            while head == queue.count && !stopping {
                idle += 1
                condition.wait()
                idle -= 1
            }
            if head == queue.count {
                threads -= 1
                condition.unlock()
                return
            }
            let job = queue[head].job
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}
