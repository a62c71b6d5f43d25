#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol

/// What the operator's `policy.toml` grants one requested capability, under
/// `[grants.<name>]`. Parsed against the manifest's request, so a grant can
/// only name what was requested and only narrow it.
public enum CapabilityGrant: Sendable {
    /// A folder; `path` absolute (relative ones are resolved against the plugin folder when parsed).
    /// `allowHardLinks`: files with more than one link may be opened (see FileRoot).
    case files(path: String, access: FileAccess, allowHardLinks: Bool)
    /// Where the secret's value comes from.
    case secret(SecretSource)
    case http(HTTPGrant)
    case coreStatus

    public enum SecretSource: Sendable, CustomStringConvertible {
        case environment(String)
        case file(String)

        public var description: String {
            switch self {
            case .environment(let name): "environment variable \(name)"
            case .file(let path): "file \(path)"
            }
        }
    }

    public struct HTTPGrant: Sendable {
        public var origins: [HTTPOrigin]
        public var maxResponseBytes: Int
        public var timeoutMilliseconds: Int

        public static let defaultMaxResponseBytes = 1 << 20
        public static let defaultTimeoutMilliseconds = 10_000
    }

    /// Reads the `[grants]` table for the capabilities `requests` names.
    /// Returns the grants by capability name; a `false` entry grants nothing.
    static func parseAll(_ value: JSONValue?, requests: [CapabilityRequest], folder: String,
                         problems: inout [String]) -> [String: CapabilityGrant] {
        guard let value else { return [:] }
        guard case .object(let table) = value else {
            problems.append("policy: [grants] must be a table")
            return [:]
        }
        var out: [String: CapabilityGrant] = [:]
        for (name, entry) in table {
            guard let request = requests.first(where: { $0.name == name }) else {
                let known = requests.map(\.name)
                problems.append("policy: grants.\(name) names a capability the manifest does not request"
                    + (known.isEmpty ? " (it requests none)" : " (it requests \(known.joined(separator: ", ")))"))
                continue
            }
            let ctx = "policy: grants.\(name) (\(request.kind.rawValue)): "
            if case .bool(let on) = entry {
                guard on else { continue }
                if request.kind == .coreStatus { out[name] = .coreStatus } else {
                    problems.append("\(ctx)needs a table of settings, not `true`")
                }
                continue
            }
            guard case .object(let g) = entry else {
                problems.append("\(ctx)must be a table, true or false")
                continue
            }
            var local: [String] = []
            if let grant = parse(g, kind: request.kind, folder: folder, problems: &local) {
                out[name] = grant
            }
            problems += local.map { ctx + $0 }
        }
        return out
    }

    private static func parse(_ g: JSONObject, kind: CapabilityKind, folder: String,
                              problems: inout [String]) -> CapabilityGrant? {
        let allowed: Set<String>
        switch kind {
        case .files: allowed = ["path", "access", "allow_hard_links"]
        case .secret: allowed = ["env", "file"]
        case .http: allowed = ["origins", "max_response_bytes", "timeout_ms"]
        case .coreStatus: allowed = []
        }
        for key in g.keys where !allowed.contains(key) {
            problems.append("unknown setting '\(key)'" + (allowed.isEmpty ? "" : " (known: \(allowed.sorted().joined(separator: ", ")))"))
        }
        switch kind {
        case .files:
            guard case .string(let path)? = g["path"], !path.isEmpty else {
                problems.append("path = \"…\" is required")
                return nil
            }
            let accessText = g["access"]?.stringValue ?? "read"
            guard let access = FileAccess(rawValue: accessText) else {
                problems.append("access must be \"read\" or \"read-write\", not '\(accessText)'")
                return nil
            }
            var allowHardLinks = false
            if let v = g["allow_hard_links"] {
                guard let b = v.boolValue else {
                    problems.append("allow_hard_links must be true or false")
                    return nil
                }
                allowHardLinks = b
            }
            return .files(path: path.hasPrefix("/") ? path : FileIO.join(folder, path), access: access,
                          allowHardLinks: allowHardLinks)
        case .secret:
            switch (g["env"], g["file"]) {
            case (.string(let env)?, nil) where !env.isEmpty: return .secret(.environment(env))
            case (nil, .string(let file)?) where !file.isEmpty:
                return .secret(.file(file.hasPrefix("/") ? file : FileIO.join(folder, file)))
            default:
                problems.append("give exactly one of env = \"VARIABLE\" or file = \"/path\"")
                return nil
            }
        case .http:
            guard case .array(let list)? = g["origins"], !list.isEmpty else {
                problems.append("origins = [\"https://host:port\", …] is required")
                return nil
            }
            var origins: [HTTPOrigin] = []
            for item in list {
                guard let text = item.stringValue else {
                    problems.append("origins must be strings")
                    continue
                }
                switch HTTPOrigin.parse(text) {
                case .success(let o): origins.append(o)
                case .failure(let why): problems.append("origin '\(text)': \(why.message)")
                }
            }
            func positive(_ key: String, _ fallback: Int) -> Int {
                guard let v = g[key] else { return fallback }
                guard let i = v.intValue, i > 0 else {
                    problems.append("\(key) must be a positive integer")
                    return fallback
                }
                return Int(i)
            }
            let grant = HTTPGrant(
                origins: origins,
                maxResponseBytes: positive("max_response_bytes", HTTPGrant.defaultMaxResponseBytes),
                timeoutMilliseconds: positive("timeout_ms", HTTPGrant.defaultTimeoutMilliseconds))
            return origins.isEmpty ? nil : .http(grant)
        case .coreStatus:
            return .coreStatus
        }
    }
}
