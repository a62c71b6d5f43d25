#if canImport(Glibc)
import Glibc
#endif

/// The call running on this thread, if any. Host functions called from the
/// thread the core called the plugin on — nearly all of them — find their
/// call here without touching the shared HandleTable and its lock; any other
/// thread (one the plugin started) falls back to the table. Either way the
/// token must match a live call exactly.
enum CurrentCall {
    private struct Slot {
        var token: UInt64 = 0
        var state: Unmanaged<CallState>?
    }

    private static let slots = ThreadSlot(Slot())

    /// Runs `body` with `state` as this thread's current call under `token`.
    static func with<R>(token: UInt64, state: CallState, _ body: () -> R) -> R {
        let s = slots.pointer()
        let saved = s.pointee
        s.pointee = Slot(token: token, state: Unmanaged.passUnretained(state))
        defer { s.pointee = saved }
        return body()
    }

    /// The call whose tool function this thread is inside, for host
    /// functions that are handed no call (the file functions take the plugin):
    /// nil during init, and on threads the plugin started itself.
    static func onThisThread() -> CallState? {
        guard let p = slots.existing() else { return nil }
        return p.pointee.state?.takeUnretainedValue()
    }

    /// The live call for `token`: this thread's current call, else the HandleTable's.
    static func find(_ token: UInt64) -> CallState? {
        if token != 0, let p = slots.existing() {
            let s = p.pointee
            if s.token == token, let state = s.state { return state.takeUnretainedValue() }
        }
        return HandleTable.shared.call(token)
    }
}
