import BulkheadCore

/// `/readyz`: ready when at least one plugin serves and the audit trail, if
/// any, took its last batch.
enum Readiness {
    static func check(host: PluginHost, audit: AuditLog?) -> (Bool, String) {
        if host.pluginNames.isEmpty { return (false, "not ready: no plugin is loaded") }
        if let audit, audit.health.lastWriteFailed { return (false, "not ready: the audit trail's last write failed") }
        return (true, "ready: \(host.pluginNames.count) plugin(s)")
    }
}
