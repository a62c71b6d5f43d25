/// `# HELP` lines for the exposition.
///
/// swift-prometheus writes HELP only for metrics made through its registry
/// directly; the core and the transport make theirs through swift-metrics, so
/// that they stay backend-agnostic. This puts each known metric's help before
/// its `# TYPE` line, which is what `promtool check metrics` and people reading
/// `/metrics` want.
enum MetricHelp {
    static let texts: [String: String] = [
        "bulkhead_calls_total": "Tool calls answered, by plugin, tool, outcome and error kind.",
        "bulkhead_call_duration_seconds": "Time from a call's admission to its answer, by plugin and tool.",
        "bulkhead_calls_in_flight": "Tool calls admitted and not yet answered, by plugin.",
        "bulkhead_consent_total": "Consent for writes: asked, granted, declined or preapproved.",
        "bulkhead_plugin_up": "1 while a loaded plugin serves, 0 after its worker failed for good.",
        "bulkhead_plugins_refused": "Plugin folders refused at start.",
        "bulkhead_audit_queue_depth": "Audit records waiting for the writer.",
        "bulkhead_audit_write_errors_total": "Audit batches that could not be written and synced.",
        "bulkhead_http_responses_total": "HTTP responses to /mcp requests, by status (499: the client went away first).",
        "bulkhead_http_sessions": "Open 2025-11-25 sessions.",
        "bulkhead_auth_failures_total": "Requests refused for their bearer token, by reason.",
    ]

    static func annotate(_ exposition: [UInt8]) -> [UInt8] {
        let text = String(decoding: exposition, as: UTF8.self)
        var out = ""
        out.reserveCapacity(text.utf8.count + 1024)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).split(separator: " ").first.map(String.init) ?? ""
                if let help = texts[name] { out += "# HELP \(name) \(help)\n" }
            }
            out += line
            out += "\n"
        }
        if out.hasSuffix("\n\n") { out.removeLast() }
        return Array(out.utf8)
    }
}
