import Synchronization

/// Maps the opaque tokens plugins hold (bh_plugin, bh_call) to the core's
/// objects. Every host function goes through here, so a stale, foreign or
/// forged token is refused instead of dereferenced.
final class HandleTable: Sendable {
    static let shared = HandleTable()

    private struct State: ~Copyable {
        var plugins: [UInt64: PluginInstance] = [:]
        var calls: [UInt64: CallState] = [:]
        var counter: UInt64 = 0
    }

    private let state = Mutex(State())

    /// A fresh token: a counter mixed by the process's randomly seeded SipHash,
    /// so values are unique, never 0, and cannot be guessed from earlier ones.
    private func mint(_ s: inout State) -> UInt64 {
        while true {
            s.counter &+= 1
            var h = Hasher()
            h.combine(s.counter)
            let token = UInt64(bitPattern: Int64(h.finalize()))
            if token != 0 && s.plugins[token] == nil && s.calls[token] == nil { return token }
        }
    }

    func register(plugin: PluginInstance) -> UInt64 {
        state.withLock { s in
            let t = mint(&s)
            s.plugins[t] = plugin
            return t
        }
    }

    func unregister(plugin token: UInt64) {
        state.withLock { _ = $0.plugins.removeValue(forKey: token) }
    }

    func plugin(_ token: UInt64) -> PluginInstance? {
        state.withLock { $0.plugins[token] }
    }

    func register(call: CallState) -> UInt64 {
        state.withLock { s in
            let t = mint(&s)
            s.calls[t] = call
            return t
        }
    }

    func unregister(call token: UInt64) {
        state.withLock { _ = $0.calls.removeValue(forKey: token) }
    }

    func call(_ token: UInt64) -> CallState? {
        state.withLock { $0.calls[token] }
    }
}
