import CBulkhead

/// Freed memory stays mapped in malloc's arenas: after one large message the
/// process keeps its peak resident for good (a 64 MiB message left 1 GiB).
public enum FreeMemory {
    /// Hands the free pages of every arena back to the system (glibc malloc_trim);
    /// costs a walk over the arenas, so it is for after rare, large messages.
    public static func release() {
        bh_shim_release_free_memory()
    }
}
