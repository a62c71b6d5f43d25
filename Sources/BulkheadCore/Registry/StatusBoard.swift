import BulkheadProtocol
import Synchronization

/// What the core knows of its plugins, for the admin domain: every loaded
/// plugin with its health and counters, and every refused folder with its reason.
final class StatusBoard: Sendable {
    struct Refusal: Sendable {
        let folder: String
        let reason: String
    }

    private struct State: ~Copyable {
        var plugins: [PluginInstance] = []
        var refused: [Refusal] = []
    }
    private let state = Mutex(State())

    func add(_ plugin: PluginInstance) { state.withLock { $0.plugins.append(plugin) } }
    func refuse(folder: String, reason: String) { state.withLock { $0.refused.append(Refusal(folder: folder, reason: reason)) } }

    var refusals: [Refusal] { state.withLock { $0.refused } }

    func snapshot() -> JSONValue {
        let (plugins, refused) = state.withLock { ($0.plugins, $0.refused) }
        let loaded: [JSONValue] = plugins.map { p in
            let health = PluginHealth(rawValue: p.health.load(ordering: .relaxed)) ?? .ok
            return [
                "name": .string(p.name),
                "version": .string(p.manifest.version),
                "abi": .string(p.manifest.abi.description),
                "description": .string(p.manifest.description),
                "concurrency": .string(p.concurrencyName),
                "health": .string(health == .ok ? "ok" : health == .degraded ? "degraded" : "failed"),
                "runtime": .object(p.runtime?.description.json ?? [:]),
                "tools": .array(p.manifest.tools.map { t in
                    ["name": .string(p.servedName(t.name)), "access": .string(t.access.rawValue)]
                }),
                "calls": .int(Int64(p.calls.load(ordering: .relaxed))),
                "errors": .int(Int64(p.errors.load(ordering: .relaxed))),
                "in_flight": .int(Int64(p.inFlight.load(ordering: .relaxed))),
            ]
        }
        return [
            "abi": .string(ABIVersion.core.description),
            "plugins": .array(loaded),
            "refused": .array(refused.map { ["folder": .string($0.folder), "reason": .string($0.reason)] }),
        ]
    }
}
