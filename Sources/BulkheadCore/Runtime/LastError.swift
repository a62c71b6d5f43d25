#if canImport(Glibc)
import Glibc
#endif
import CBulkhead

/// The reason the last capability function that failed on this thread
/// failed, for host->last_error: a status says what kind of refusal it was,
/// this says which rule and which target, as errno and strerror do.
enum LastError {
    private struct Slot {
        var text: UnsafeMutablePointer<CChar>?
        var length = 0
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            guard let raw else { return }
            free(raw.assumingMemoryBound(to: Slot.self).pointee.text)
            free(raw)
        }
        return key
    }()

    private static func slot() -> UnsafeMutablePointer<Slot> {
        if let p = pthread_getspecific(key) { return p.assumingMemoryBound(to: Slot.self) }
        let p = malloc(MemoryLayout<Slot>.stride)!.bindMemory(to: Slot.self, capacity: 1)
        p.initialize(to: Slot())
        pthread_setspecific(key, p)
        return p
    }

    static func set(_ message: String) {
        let s = slot()
        free(s.pointee.text)
        let bytes = Array(message.utf8)
        let p = malloc(bytes.count + 1)!.bindMemory(to: CChar.self, capacity: bytes.count + 1)
        for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
        p[bytes.count] = 0
        s.pointee = Slot(text: p, length: bytes.count)
    }

    /// The message, borrowed until the next failing capability function on this thread.
    static func get() -> bh_bytes {
        let s = slot().pointee
        guard let text = s.text else { return bh_bytes(ptr: nil, len: 0) }
        return bh_bytes(ptr: UnsafePointer(text), len: s.length)
    }
}
