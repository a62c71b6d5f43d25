import Metrics

/// The transport's own metrics, through swift-metrics (whatever backend the
/// CLI bootstrapped; Prometheus for `--metrics`).
struct HTTPMetrics: Sendable {
    private let sessions = Gauge(label: "bulkhead_http_sessions")

    func response(_ status: Int) {
        Counter(label: "bulkhead_http_responses_total", dimensions: [("status", String(status))]).increment()
    }

    func authFailure(_ reason: String) {
        Counter(label: "bulkhead_auth_failures_total", dimensions: [("reason", reason)]).increment()
    }

    func sessionsOpen(_ count: Int) {
        sessions.record(count)
    }
}
