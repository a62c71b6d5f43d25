#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol

/// Who may ask: a name, the tenant the request runs in, and scopes.
public struct Principal: Sendable, Hashable {
    public var name: String
    public var tenant: String
    public var scopes: [String]

    public init(name: String, tenant: String, scopes: [String] = []) {
        self.name = name
        self.tenant = tenant
        self.scopes = scopes
    }

    /// The principal of a server started without a configuration file.
    public static let local = Principal(name: "local", tenant: "default")
}

/// The server-wide configuration file (`bulkhead.toml`): the principals, and
/// which one a stdio process runs as. Plugin rules live in each plugin's folder, not here.
public struct ServerConfig: Sendable {
    /// By name, compared code point by code point.
    public var principals: [ExactKey: Principal]
    public var defaultPrincipal: String
    /// The key consent requestStates are sealed with. Nil: a random one per start
    /// (set it, `[consent] key_file` or `key_env`, so several servers behind a
    /// load balancer accept each other's). Never logged.
    public var consentKey: [UInt8]?
    /// How long a consent request may wait for its answer.
    public var consentTTLSeconds: Int = 300
    /// `[consent] state_dir`, resolved against the configuration file's folder: where
    /// redeemed requestStates are remembered until they expire, so that single use
    /// holds across restarts and across the processes that share it. Nil: per process.
    public var consentStateDir: String?
    /// `[audit] path`: the audit log, resolved against the configuration file's folder.
    public var auditPath: String?
    /// `tool_names`: how served tool names are formed (`underscore`, the default, or `dotted`).
    public var toolNaming: ToolNaming = .underscore
    /// `[limits]`: what one connection may make the server hold.
    public var limits = ServerLimits()
    /// `token_sha256` under `[principals.NAME]`: lower-case hex SHA-256 of an API
    /// token → the principal it stands for (over HTTP).
    public var apiTokenHashes: [String: String] = [:]
    /// `[http]` and `[oauth]` as written, for the HTTP transport to read, and the
    /// folder relative paths in them are resolved against.
    public var httpTable: JSONObject?
    public var oauthTable: JSONObject?
    public var baseDirectory = "."

    public static let empty = ServerConfig(principals: ["local": .local], defaultPrincipal: "local")

    public init(principals: [ExactKey: Principal], defaultPrincipal: String) {
        self.principals = principals
        self.defaultPrincipal = defaultPrincipal
    }

    public static func load(path: String) throws(LoadProblems) -> ServerConfig {
        let doc: JSONObject
        do {
            doc = try TOMLDocument.load(path: path)
        } catch {
            throw LoadProblems(["\(path): \(error)"])
        }
        var problems: [String] = []
        var principals: [ExactKey: Principal] = [:]
        var tokenHashes: [String: String] = [:]
        if case .object(let table)? = doc["principals"] {
            for (name, value) in table.sorted(by: { $0.key < $1.key }) {
                guard case .object(let p) = value, case .string(let tenant)? = p["tenant"] else {
                    problems.append("principals.\(name): needs tenant = \"…\"")
                    continue
                }
                for key in p.keys where !["tenant", "scopes", "token_sha256"].contains(key) {
                    problems.append("principals.\(name): unknown key '\(key)' (known: scopes, tenant, token_sha256)")
                }
                if let hashes = p["token_sha256"] {
                    let list: [JSONValue]
                    switch hashes {
                    case .string: list = [hashes]
                    case .array(let a): list = a
                    default: list = [.null]
                    }
                    for h in list {
                        guard let hex = h.stringValue?.lowercased(), hex.utf8.count == 64,
                              hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                            problems.append("principals.\(name).token_sha256 must be 64 hex digits, or a list of them (`bulkhead token new \(name)` prints one)")
                            continue
                        }
                        if let other = tokenHashes[hex], other != name {
                            problems.append("principals.\(name).token_sha256: the same token is also \(other)'s")
                        }
                        tokenHashes[hex] = name
                    }
                }
                var scopes: [String] = []
                if let list = p["scopes"] {
                    guard case .array(let items) = list, items.allSatisfy({ $0.stringValue != nil }) else {
                        problems.append("principals.\(name).scopes must be an array of strings")
                        continue
                    }
                    scopes = items.compactMap(\.stringValue)
                }
                principals[exactly: name] = Principal(name: name, tenant: tenant, scopes: scopes)
            }
        } else if doc["principals"] != nil {
            problems.append("[principals] must be a table")
        }
        // A file that defines no principals (only [oauth], [audit] or [http], say)
        // serves stdio and tokenless loopback as the built-in one, as no file does.
        if principals.isEmpty && doc["principals"] == nil && doc["default_principal"] == nil {
            principals[exactly: Principal.local.name] = .local
        }
        let def = doc["default_principal"]?.stringValue ?? principals.keys.map(\.string).sorted().first ?? ""
        if principals[exactly: def] == nil { problems.append("default_principal '\(def)' is not defined under [principals]") }
        let base = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var consentKey: [UInt8]?
        var ttl = 300
        var stateDir: String?
        switch doc["consent"] {
        case .object(let c)?:
            for key in c.keys where !["key_file", "key_env", "ttl_seconds", "state_dir"].contains(key) {
                problems.append("[consent]: unknown key '\(key)' (known: key_env, key_file, state_dir, ttl_seconds)")
            }
            if let d = c["state_dir"] {
                if let d = d.stringValue, !d.isEmpty { stateDir = d.hasPrefix("/") ? d : FileIO.join(base, d) } else {
                    problems.append("[consent] state_dir must be a folder path")
                }
            }
            if let file = c["key_file"]?.stringValue {
                if let text = FileIO.readText(file, limit: 4096) {
                    consentKey = Array(text.utf8)
                } else {
                    problems.append("[consent] key_file \(file) cannot be read")
                }
            } else if let env = c["key_env"]?.stringValue {
                if let raw = getenv(env) { consentKey = Array(String(cString: raw).utf8) } else {
                    problems.append("[consent] key_env: environment variable \(env) is not set")
                }
            }
            while let last = consentKey?.last, last == 10 || last == 13 { consentKey?.removeLast() }
            if let k = consentKey, k.count < 32 {
                problems.append("[consent]: the key must be at least 32 bytes (it has \(k.count)); `openssl rand -hex 32` makes one")
            }
            if let t = c["ttl_seconds"] {
                if let n = t.intValue, n > 0, n <= 86_400 { ttl = Int(n) } else {
                    problems.append("[consent] ttl_seconds must be from 1 to 86400")
                }
            }
        case nil: break
        default: problems.append("[consent] must be a table")
        }
        var toolNaming = ToolNaming.underscore
        if let value = doc["tool_names"] {
            if let s = value.stringValue, let n = ToolNaming(setting: s) { toolNaming = n } else {
                problems.append("tool_names must be \"underscore\" (plugin__tool, the default) or \"dotted\" (plugin.tool)")
            }
        }
        var limits = ServerLimits()
        switch doc["limits"] {
        case .object(let l)?: limits = ServerLimits.parse(l, problems: &problems)
        case nil: break
        default: problems.append("[limits] must be a table")
        }
        var auditPath: String?
        switch doc["audit"] {
        case .object(let a)?:
            for key in a.keys where key != "path" { problems.append("[audit]: unknown key '\(key)' (known: path)") }
            if let p = a["path"]?.stringValue, !p.isEmpty {
                auditPath = p.hasPrefix("/") ? p : FileIO.join(base, p)
            } else {
                problems.append("[audit] path = \"…\" is required")
            }
        case nil: break
        default: problems.append("[audit] must be a table")
        }
        guard problems.isEmpty else { throw LoadProblems(problems.map { "\(path): \($0)" }) }
        var config = ServerConfig(principals: principals, defaultPrincipal: def)
        config.auditPath = auditPath
        config.consentKey = consentKey
        config.consentTTLSeconds = ttl
        config.consentStateDir = stateDir
        config.toolNaming = toolNaming
        config.limits = limits
        config.apiTokenHashes = tokenHashes
        config.baseDirectory = base
        switch doc["http"] {
        case .object(let h)?: config.httpTable = h
        case nil: break
        default: throw LoadProblems(["\(path): [http] must be a table"])
        }
        switch doc["oauth"] {
        case .object(let o)?: config.oauthTable = o
        case nil: break
        default: throw LoadProblems(["\(path): [oauth] must be a table"])
        }
        return config
    }
}
