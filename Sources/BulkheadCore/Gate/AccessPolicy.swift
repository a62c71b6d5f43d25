import BulkheadProtocol

/// What a gate rule names: the three primitives a plugin serves.
public enum Primitive: String, Sendable, Hashable, CaseIterable {
    case tool, resource, prompt

    /// The policy key listing them in an `[[allow]]` rule.
    var policyKey: String {
        switch self {
        case .tool: "tools"
        case .resource: "resources"
        case .prompt: "prompts"
        }
    }
}

/// Who may see and call a plugin's tools, resources and prompts, and within what limits: the
/// `[[allow]]`, `[limits]` and `[clamp]` parts of that plugin's own
/// policy.toml. Nothing is allowed unless a rule says so, and a policy that
/// names a tool the plugin does not have is refused at load.
public struct AccessPolicy: Sendable {
    /// One `[[allow]]` rule: these callers may see and use these tools, resources and prompts.
    public struct Rule: Sendable {
        /// Tool names of this plugin (without the plugin prefix); nil means every tool.
        /// Names compare code point by code point (``ExactKey``).
        public var tools: Set<ExactKey>?
        /// Resource URIs and URI templates as the manifest writes them; nil: every one.
        public var resources: Set<ExactKey>? = []
        /// Prompt names; nil: every one.
        public var prompts: Set<ExactKey>? = []
        /// Principals allowed by name; "*" in the file means anyone.
        public var principals: Set<ExactKey>
        public var anyPrincipal: Bool
        /// Callers holding any of these scopes are allowed.
        public var scopes: Set<ExactKey>
        /// When set, only callers whose tenant is listed.
        public var tenants: Set<ExactKey>?

        func selects(_ kind: Primitive, _ name: String) -> Bool {
            let list: Set<ExactKey>? = switch kind {
            case .tool: tools
            case .resource: resources
            case .prompt: prompts
            }
            if let list, !list.contains(ExactKey(name)) { return false }
            return true
        }

        func allows(_ p: Principal, _ kind: Primitive, _ name: String) -> Bool {
            guard selects(kind, name) else { return false }
            if let tenants, !tenants.contains(ExactKey(p.tenant)) { return false }
            return anyPrincipal || principals.contains(ExactKey(p.name)) || p.scopes.contains { scopes.contains(ExactKey($0)) }
        }
    }

    public var rules: [Rule]
    /// `[[preapprove]]`: write tools these callers may call without being asked
    /// for consent each time (trusted automation); the audit records it as such.
    public var preapproved: [Rule]
    /// Limits for every tool, then per tool (`[limits.<tool>]`), the latter winning.
    public var limits: Limits
    public var toolLimits: [ExactKey: Limits]
    /// Arguments clamped into their schema bounds rather than refused, per tool.
    public var clamps: [ExactKey: Set<ExactKey>]
    /// False when the folder has no policy.toml: the plugin then serves nobody.
    public var present: Bool

    public static let denyAll = AccessPolicy(rules: [], preapproved: [], limits: Limits(), toolLimits: [:], clamps: [:],
                                             present: false)

    public func allows(_ p: Principal, tool: String) -> Bool {
        rules.contains { $0.allows(p, .tool, tool) }
    }

    /// Which `[[allow]]` rule (0-based, in file order) lets `p` use `name`: provenance names it.
    public func ruleIndex(_ p: Principal, _ kind: Primitive, _ name: String) -> Int? {
        rules.firstIndex { $0.allows(p, kind, name) }
    }

    /// Whether `p` may use at least one thing of `kind` (a resource list is shown to
    /// whoever may read some resource of the plugin; the entries are filtered after).
    public func allowsAny(_ p: Principal, _ kind: Primitive) -> Bool {
        rules.contains { rule in
            let list: Set<ExactKey>? = switch kind {
            case .tool: rule.tools
            case .resource: rule.resources
            case .prompt: rule.prompts
            }
            if let list, list.isEmpty { return false }
            return rule.allows(p, kind, list?.first?.string ?? "")
        }
    }

    /// Whether `p` may use the resource (URI or template, as the manifest writes it) or prompt `name`.
    public func allows(_ p: Principal, _ kind: Primitive, _ name: String) -> Bool {
        rules.contains { $0.allows(p, kind, name) }
    }

    /// When `p` may not call `tool` but would with a scope it lacks (a rule for this
    /// tool and tenant names scopes): those scopes, sorted, for an OAuth step-up
    /// challenge. Empty when no scope would help.
    public func missingScopes(_ p: Principal, _ kind: Primitive = .tool, tool: String) -> [String] {
        guard !allows(p, kind, tool) else { return [] }
        var scopes: Set<String> = []
        for rule in rules {
            if !rule.selects(kind, tool) { continue }
            if let tenants = rule.tenants, !tenants.contains(ExactKey(p.tenant)) { continue }
            for s in rule.scopes { scopes.insert(s.string) }
        }
        return scopes.sorted()
    }

    public func preapproves(_ p: Principal, tool: String) -> Bool {
        preapproved.contains { $0.allows(p, .tool, tool) }
    }

    /// The limits that apply to `tool`: its own where it sets them, else the plugin's, else the defaults.
    public func effectiveLimits(for tool: String) -> Limits.Effective {
        limits.overridden(by: toolLimits[exactly: tool]).effective
    }

    /// Reads the access part of a policy document, checking every tool, resource and prompt
    /// name against the manifest.
    static func parse(_ doc: JSONObject, tools: [String], resources: [String] = [], prompts: [String] = [],
                      problems: inout [String]) -> AccessPolicy {
        let known = Set(tools.map { ExactKey($0) })
        func checkNamed(_ kind: Primitive, _ name: String, _ names: [String], _ context: String) -> Bool {
            if names.contains(where: { $0.isExactly(name) }) { return true }
            let have = names.isEmpty ? "none" : names.sorted().joined(separator: ", ")
            problems.append("policy: \(context) names \(kind.rawValue) '\(name)', which the plugin does not have (it has \(have))")
            return false
        }
        func checkTool(_ name: String, _ context: String) -> Bool {
            if known.contains(ExactKey(name)) { return true }
            problems.append("policy: \(context) names tool '\(name)', which the plugin does not have (it has \(tools.sorted().joined(separator: ", ")))")
            return false
        }
        func strings(_ value: JSONValue?, _ context: String) -> [String]? {
            guard let value else { return nil }
            guard case .array(let items) = value, let list = Optional(items.compactMap(\.stringValue)), list.count == items.count else {
                problems.append("policy: \(context) must be an array of strings")
                return nil
            }
            return list
        }

        func parseRules(_ key: String) -> [Rule] {
        var rules: [Rule] = []
        switch doc[key] {
        case .array(let entries)?:
            for (i, entry) in entries.enumerated() {
                let ctx = "\(key)[\(i)]"
                guard case .object(let t) = entry else {
                    problems.append("policy: \(ctx) must be a table ([[\(key)]])")
                    continue
                }
                let selectable = key == "allow" ? ["tools", "resources", "prompts"] : ["tools"]
                for k in t.keys where !(selectable + ["principals", "scopes", "tenants"]).contains(k) {
                    problems.append("policy: \(ctx): unknown key '\(k)' (known: principals, \(key == "allow" ? "prompts, resources, " : "")scopes, tenants, tools)")
                }
                if !selectable.contains(where: { t[$0] != nil }) {
                    problems.append(key == "allow"
                        ? "policy: \(ctx) needs tools = [\"…\"], resources = [\"…\"] or prompts = [\"…\"] ([\"*\"] for all)"
                        : "policy: \(ctx) needs tools = [\"…\"] (or [\"*\"] for all)")
                }
                // A kind the rule does not name, it does not allow; ["*"] allows all of that kind.
                func selection(_ kind: Primitive, _ names: [String]) -> Set<ExactKey>? {
                    guard t[kind.policyKey] != nil else { return [] }
                    guard let list = strings(t[kind.policyKey], "\(ctx).\(kind.policyKey)") else { return [] }
                    if list.contains(where: { $0.isExactly("*") }) { return nil }
                    return Set(list.filter { kind == .tool ? checkTool($0, ctx) : checkNamed(kind, $0, names, ctx) }.map { ExactKey($0) })
                }
                let toolSelection = selection(.tool, tools)
                let resourceSelection = selection(.resource, resources)
                let promptSelection = selection(.prompt, prompts)
                let principals = strings(t["principals"], "\(ctx).principals") ?? []
                let scopes = strings(t["scopes"], "\(ctx).scopes") ?? []
                if principals.isEmpty && scopes.isEmpty {
                    problems.append("policy: \(ctx) needs principals = [\"…\"] or scopes = [\"…\"] (principals = [\"*\"] allows anyone)")
                }
                let tenants = strings(t["tenants"], "\(ctx).tenants").map { Set($0.map { ExactKey($0) }) }
                rules.append(Rule(tools: toolSelection, resources: resourceSelection, prompts: promptSelection,
                                  principals: Set(principals.filter { !$0.isExactly("*") }.map { ExactKey($0) }),
                                  anyPrincipal: principals.contains { $0.isExactly("*") },
                                  scopes: Set(scopes.map { ExactKey($0) }), tenants: tenants))
            }
        case nil: break
        default: problems.append("policy: \(key) must be an array of tables ([[\(key)]])")
        }
        return rules
        }
        let rules = parseRules("allow")
        let preapproved = parseRules("preapprove")

        var limits = Limits()
        var toolLimits: [ExactKey: Limits] = [:]
        switch doc["limits"] {
        case .object(let table)?:
            var plain = JSONObject()
            for (key, value) in table {
                if case .object(let perTool) = value {
                    if checkTool(key, "[limits.\(key)]") {
                        toolLimits[exactly: key] = Limits.parse(perTool, context: "limits.\(key)", problems: &problems)
                    }
                } else {
                    plain[key] = value
                }
            }
            limits = Limits.parse(plain, context: "limits", problems: &problems)
        case nil: break
        default: problems.append("policy: [limits] must be a table")
        }

        var clamps: [ExactKey: Set<ExactKey>] = [:]
        switch doc["clamp"] {
        case .object(let table)?:
            for (tool, value) in table where checkTool(tool, "[clamp]") {
                if let fields = strings(value, "clamp.\(tool)") { clamps[exactly: tool] = Set(fields.map { ExactKey($0) }) }
            }
        case nil: break
        default: problems.append("policy: [clamp] must be a table")
        }
        return AccessPolicy(rules: rules, preapproved: preapproved, limits: limits, toolLimits: toolLimits,
                            clamps: clamps, present: true)
    }
}

/// The limits a policy sets for a plugin or one of its tools. Unset fields fall back.
public struct Limits: Sendable {
    public var deadlineMilliseconds: Int?
    public var argumentBytes: Int?
    public var resultBytes: Int?
    public var concurrentCalls: Int?
    public var callsPerMinute: Int?

    /// What applies when the operator set nothing.
    public static let defaults = Effective(deadlineMilliseconds: 30_000, argumentBytes: 1 << 20,
                                           resultBytes: 16 << 20, concurrentCalls: nil, callsPerMinute: nil)

    public struct Effective: Sendable, Equatable {
        public var deadlineMilliseconds: Int
        public var argumentBytes: Int
        public var resultBytes: Int
        /// nil: no limit beyond the plugin's threads.
        public var concurrentCalls: Int?
        public var callsPerMinute: Int?
    }

    func overridden(by other: Limits?) -> Limits {
        guard let other else { return self }
        return Limits(deadlineMilliseconds: other.deadlineMilliseconds ?? deadlineMilliseconds,
                      argumentBytes: other.argumentBytes ?? argumentBytes,
                      resultBytes: other.resultBytes ?? resultBytes,
                      concurrentCalls: other.concurrentCalls ?? concurrentCalls,
                      callsPerMinute: other.callsPerMinute ?? callsPerMinute)
    }

    var effective: Effective {
        let d = Self.defaults
        return Effective(deadlineMilliseconds: deadlineMilliseconds ?? d.deadlineMilliseconds,
                         argumentBytes: argumentBytes ?? d.argumentBytes,
                         resultBytes: resultBytes ?? d.resultBytes,
                         concurrentCalls: concurrentCalls ?? d.concurrentCalls,
                         callsPerMinute: callsPerMinute ?? d.callsPerMinute)
    }

    static func parse(_ t: JSONObject, context: String, problems: inout [String]) -> Limits {
        var l = Limits()
        for (key, value) in t {
            guard let n = value.intValue, n > 0, n <= Int64(Int32.max) else {
                problems.append("policy: \(context).\(key) must be a positive integer")
                continue
            }
            switch key {
            case "deadline_ms": l.deadlineMilliseconds = Int(n)
            case "argument_bytes": l.argumentBytes = Int(n)
            case "result_bytes": l.resultBytes = Int(n)
            case "concurrent_calls": l.concurrentCalls = Int(n)
            case "calls_per_minute": l.callsPerMinute = Int(n)
            default:
                problems.append("policy: \(context): unknown limit '\(key)' (known: argument_bytes, calls_per_minute, concurrent_calls, deadline_ms, result_bytes)")
            }
        }
        return l
    }
}
