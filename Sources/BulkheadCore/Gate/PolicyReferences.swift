import BulkheadProtocol

/// A plugin policy read against the server configuration: a rule that names
/// a principal the configuration does not define, a scope no principal holds
/// or a tenant no principal is in can never match, which is nearly always a
/// typo that silently takes someone's access away. Serve does not refuse
/// such a plugin (the rule is merely dead); `bulkhead check --config` reports it.
public enum PolicyReferences {
    public static func problems(_ access: AccessPolicy, config: ServerConfig, configName: String) -> [String] {
        let principals = Set(config.principals.keys)
        let scopes = Set(config.principals.values.flatMap(\.scopes).map { ExactKey($0) })
        let tenants = Set(config.principals.values.map { ExactKey($0.tenant) })
        let defined = config.principals.keys.map(\.string).sorted().joined(separator: ", ")
        var problems: [String] = []
        for (table, rules) in [("allow", access.rules), ("preapprove", access.preapproved)] {
            for (i, rule) in rules.enumerated() {
                let ctx = "policy: \(table)[\(i)]"
                for p in rule.principals.map(\.string).sorted() where !principals.contains(ExactKey(p)) {
                    problems.append("\(ctx) names principal '\(p)', which \(configName) does not define (it defines \(defined))")
                }
                for s in rule.scopes.map(\.string).sorted() where !scopes.contains(ExactKey(s)) {
                    problems.append("\(ctx) names scope '\(s)', which no principal in \(configName) holds")
                }
                for t in (rule.tenants ?? []).map(\.string).sorted() where !tenants.contains(ExactKey(t)) {
                    problems.append("\(ctx) names tenant '\(t)', which no principal in \(configName) is in")
                }
            }
        }
        return problems
    }
}
