#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// State guarded by a mutex, with a condition variable to wait for it to change.
///
/// `Synchronization.Mutex` has no condition variable, and draining on EOF
/// means waiting (with a deadline) for the last in-flight call to finish;
/// this is the classic pthread pair, with the wait measured on the monotonic
/// clock so wall-clock jumps cannot stretch or cut it short.
final class ConditionLock<State>: @unchecked Sendable {
    // Heap-allocated: pthread objects must not move once initialised.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    init(_ initial: State) {
        state = initial
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if !canImport(Darwin)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the state. Keep it short: no I/O, no callbacks.
    @inline(__always)
    func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Wakes every waiter so it re-checks its predicate. Call after changing what they wait for.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }

    /// Blocks until `predicate` holds or `timeout` passes; returns whether it holds.
    func wait(timeout: Duration, until predicate: (State) -> Bool) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if predicate(state) { return true }
        #if canImport(Darwin)
            var relative = Self.interval(timeout)
            while !predicate(state) {
                // Darwin has no monotonic condattr clock; a relative wait is the closest.
                if pthread_cond_timedwait_relative_np(condition, mutex, &relative) == ETIMEDOUT {
                    return predicate(state)
                }
            }
            return true
        #else
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let add = Self.interval(timeout)
            var deadline = timespec(tv_sec: now.tv_sec &+ add.tv_sec, tv_nsec: now.tv_nsec + add.tv_nsec)
            if deadline.tv_nsec >= 1_000_000_000 {
                deadline.tv_sec += 1
                deadline.tv_nsec -= 1_000_000_000
            }
            while !predicate(state) {
                if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT {
                    return predicate(state)
                }
            }
            return true
        #endif
    }

    private static func interval(_ duration: Duration) -> timespec {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return .init(tv_sec: 0, tv_nsec: 0) }
        // Cap at about 30 years so the deadline cannot overflow time_t arithmetic.
        let cappedSeconds = min(seconds, 1 << 30)
        return .init(tv_sec: Int(cappedSeconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    }
}
