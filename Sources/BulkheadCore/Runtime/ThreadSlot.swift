#if canImport(Glibc)
import Glibc
#endif

/// One value per thread, for state a host function must reach without a
/// lock: pthread keys, because Swift has no thread-local storage of its own.
/// `Value` must hold no owned references (the memory is freed, not
/// deinitialized, when its thread ends).
struct ThreadSlot<Value>: @unchecked Sendable {
    // A pthread key is an index, written once here and read-only after.
    private let key: pthread_key_t
    private let initial: Value

    init(_ initial: Value) {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        self.key = key
        self.initial = initial
    }

    /// This thread's value, made on first use.
    func pointer() -> UnsafeMutablePointer<Value> {
        if let p = pthread_getspecific(key) { return p.assumingMemoryBound(to: Value.self) }
        let p = malloc(MemoryLayout<Value>.stride)!.bindMemory(to: Value.self, capacity: 1)
        p.initialize(to: initial)
        pthread_setspecific(key, p)
        return p
    }

    /// This thread's value if it was ever made, without making it.
    func existing() -> UnsafeMutablePointer<Value>? {
        pthread_getspecific(key)?.assumingMemoryBound(to: Value.self)
    }
}
