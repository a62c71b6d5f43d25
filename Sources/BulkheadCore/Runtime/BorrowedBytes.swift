#if canImport(Glibc)
import Glibc
#endif
import CBulkhead

/// Memory the core lends a plugin through bh_bytes. Each buffer is a private
/// copy with a NUL after the last byte (so careless C still stops), freed when
/// its owner (a call, or a plugin) ends.
struct BorrowedBytes: ~Copyable {
    private var buffers: [UnsafeMutableRawPointer] = []

    init() {}

    mutating func lend<C: Collection>(_ bytes: C) -> bh_bytes where C.Element == UInt8 {
        let n = bytes.count
        let p = malloc(n + 1)!
        let typed = p.bindMemory(to: UInt8.self, capacity: n + 1)
        _ = UnsafeMutableBufferPointer(start: typed, count: n).initialize(from: bytes)
        typed[n] = 0
        buffers.append(p)
        return bh_bytes(ptr: UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self), len: n)
    }

    mutating func lend(_ s: String) -> bh_bytes { lend(s.utf8) }

    /// Lends a malloc'd, NUL-terminated buffer without copying it; freed with the rest.
    mutating func adopt(_ p: UnsafeMutablePointer<CChar>, length: Int) -> bh_bytes {
        buffers.append(UnsafeMutableRawPointer(p))
        return bh_bytes(ptr: UnsafePointer(p), len: length)
    }

    mutating func releaseAll() {
        for p in buffers { free(p) }
        buffers.removeAll()
    }

    deinit { for p in buffers { free(p) } }
}

extension bh_bytes {
    /// The bytes a plugin passed as (pointer, length), or nil for a NULL pointer with a non-zero length.
    static func view(_ ptr: UnsafePointer<CChar>?, _ len: Int) -> UnsafeRawBufferPointer? {
        if len == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
        guard let ptr, len > 0 else { return nil }
        return UnsafeRawBufferPointer(start: ptr, count: len)
    }
}

/// Decodes bytes a plugin passed as UTF-8 text, refusing invalid UTF-8 rather than repairing it.
func validatedUTF8(_ ptr: UnsafePointer<CChar>?, _ len: Int) -> String? {
    guard let raw = bh_bytes.view(ptr, len) else { return nil }
    return String(validating: raw, as: UTF8.self)
}
