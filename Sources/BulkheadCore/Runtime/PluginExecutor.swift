#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Runs one plugin's calls on threads the core owns, never on Swift's
/// cooperative pool: a plugin call may block for seconds, and a blocked
/// cooperative thread would stall unrelated work.
///
/// A serial plugin gets one thread, so its calls never overlap. A parallel
/// plugin gets up to `maxThreads`, started on demand and kept while idle.
/// Each plugin has its own executor, so a slow plugin cannot starve another.
final class PluginExecutor: @unchecked Sendable {
    private let name: String
    private let maxThreads: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private var stopping = false

    init(name: String, maxThreads: Int) {
        self.name = name
        self.maxThreads = max(1, maxThreads)
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(job)
        let pending = queue.count - head
        let spawn = pending > idle && threads < maxThreads
        if spawn { threads += 1 }
        condition.signal()
        condition.unlock()
        if spawn { startThread(index: threads) }
    }

    /// Lets queued calls finish, then ends the threads.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func startThread(index: Int) {
        let thread = Thread { [self] in self.work() }
        thread.name = "bh-\(name)-\(index)"
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
            let job = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}
