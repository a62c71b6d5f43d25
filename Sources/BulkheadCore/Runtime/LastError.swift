import CBulkhead

/// The reason the last capability or result function that failed on this
/// thread failed, for host->last_error: a status says what kind of refusal it was,
/// this says which rule and which target, as errno and strerror do.
enum LastError {
    /// The message lives inline in the slot (cut at a character boundary), so
    /// the slot holds no allocation of its own to free when its thread ends.
    private struct Slot {
        var length = 0
        var bytes = InlineArray<512, UInt8>(repeating: 0)
    }

    private static let slots = ThreadSlot(Slot())

    /// Scrubbed of secrets before it is cut, so no prefix of a secret survives either:
    /// messages name paths and URLs the plugin built, which may hold one.
    static func set(_ message: String) {
        let s = slots.pointer()
        var utf8 = Array(KnownSecrets.scrub(message).utf8)
        if utf8.count > 511 {
            var end = 511
            while end > 0 && utf8[end] & 0xC0 == 0x80 { end -= 1 }
            utf8 = Array(utf8[..<end])
        }
        for (i, b) in utf8.enumerated() { s.pointee.bytes[i] = b }
        s.pointee.bytes[utf8.count] = 0
        s.pointee.length = utf8.count
    }

    /// Empties this thread's message: only for the core's own threads that
    /// serve a worker's requests, where each reply carries what one request set.
    static func clear() { slots.pointer().pointee.length = 0 }

    /// The message, borrowed until the next failing capability function on this thread.
    static func get() -> bh_bytes {
        let s = slots.pointer()
        let start = UnsafeRawPointer(s).advanced(by: MemoryLayout<Slot>.offset(of: \Slot.bytes)!)
        return bh_bytes(ptr: start.assumingMemoryBound(to: CChar.self), len: s.pointee.length)
    }
}
