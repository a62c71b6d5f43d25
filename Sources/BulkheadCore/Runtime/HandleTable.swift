import Synchronization

/// Maps the opaque tokens plugins hold (bh_plugin, bh_call) to the core's
/// objects. Every host function goes through here, so a stale, foreign or
/// forged token is refused instead of dereferenced.
final class HandleTable: Sendable {
    static let shared = HandleTable()

    private struct State: ~Copyable {
        var plugins: [UInt64: PluginInstance] = [:]
        var calls: [UInt64: CallState] = [:]
        /// Capability token → the plugin it was issued to, so a token presented
        /// by the wrong plugin can be named in the refusal.
        var capabilities: [UInt64: String] = [:]
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
            if token != 0 && s.plugins[token] == nil && s.calls[token] == nil && s.capabilities[token] == nil { return token }
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

    /// A fresh capability token, recorded as issued to `owner`.
    func register(capabilityOf owner: String) -> UInt64 {
        state.withLock { s in
            // Capability tokens live as long as their plugin, so they come
            // straight from the system's generator (getrandom), not the counter.
            var rng = SystemRandomNumberGenerator()
            var t: UInt64
            repeat { t = rng.next() } while t == 0 || s.plugins[t] != nil || s.calls[t] != nil || s.capabilities[t] != nil
            s.capabilities[t] = owner
            return t
        }
    }

    func unregister(capabilities tokens: some Sequence<UInt64>) {
        state.withLock { s in
            for t in tokens { s.capabilities.removeValue(forKey: t) }
        }
    }

    /// The plugin a capability token was issued to, if it is still live.
    func owner(ofCapability token: UInt64) -> String? {
        state.withLock { $0.capabilities[token] }
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
