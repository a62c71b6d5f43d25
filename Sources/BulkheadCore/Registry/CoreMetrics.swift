import Metrics
import Synchronization

/// The core's metrics, through swift-metrics: whatever backend the CLI
/// bootstrapped (Prometheus behind `--metrics`), nothing when none was.
///
/// Off, the hot path pays one atomic load per call. Labels carry only names
/// the operator chose (plugins, their declared tools, outcome and error
/// kinds): a tool name a client made up is counted as `(unknown)`, so no
/// client can grow the label set.
public enum CoreMetrics {
    private static let on = Atomic<Bool>(false)

    /// Called by the CLI after it bootstrapped a metrics backend.
    public static func enable() { on.store(true, ordering: .releasing) }

    static var enabled: Bool { on.load(ordering: .relaxed) }

    /// A call admitted to a plugin's tool: counted in flight until `finished`.
    struct Call: Sendable {
        let plugin: String
        let tool: String
        let started: UInt64

        init(plugin: String, tool: String) {
            self.plugin = plugin
            self.tool = tool
            self.started = MonotonicClock.now()
            Meter(label: "bulkhead_calls_in_flight", dimensions: [("plugin", plugin)]).increment()
        }

        func finished(outcome: String, kind: String?) {
            Meter(label: "bulkhead_calls_in_flight", dimensions: [("plugin", plugin)]).decrement()
            CoreMetrics.count(plugin: plugin, tool: tool, outcome: outcome, kind: kind)
            Timer(label: "bulkhead_call_duration_seconds", dimensions: [("plugin", plugin), ("tool", tool)])
                .recordNanoseconds(Int64(MonotonicClock.now() &- started))
        }
    }

    static func count(plugin: String, tool: String, outcome: String, kind: String?) {
        Counter(label: "bulkhead_calls_total",
                dimensions: [("plugin", plugin), ("tool", tool), ("outcome", outcome), ("kind", kind ?? "")]).increment()
    }

    /// `asked`, `granted`, `declined`, `preapproved`.
    static func consent(_ result: String) {
        guard enabled else { return }
        Counter(label: "bulkhead_consent_total", dimensions: [("result", result)]).increment()
    }

    /// Plugin health and refusals, as of now (the metrics listener calls it before each scrape).
    public static func recordHealth(_ host: PluginHost) {
        guard enabled else { return }
        for (name, serving) in host.pluginHealth {
            Gauge(label: "bulkhead_plugin_up", dimensions: [("plugin", name)]).record(serving ? 1 : 0)
        }
        Gauge(label: "bulkhead_plugins_refused").record(host.refusals.count)
        if let audit = host.auditLog {
            Gauge(label: "bulkhead_audit_queue_depth").record(audit.health.queued)
        }
    }
}
