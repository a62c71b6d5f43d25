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
    public var principals: [String: Principal]
    public var defaultPrincipal: String

    public static let empty = ServerConfig(principals: ["local": .local], defaultPrincipal: "local")

    public static func load(path: String) throws(LoadProblems) -> ServerConfig {
        let doc: JSONObject
        do {
            doc = try TOMLDocument.load(path: path)
        } catch {
            throw LoadProblems(["\(path): \(error)"])
        }
        var problems: [String] = []
        var principals: [String: Principal] = [:]
        if case .object(let table)? = doc["principals"] {
            for (name, value) in table {
                guard case .object(let p) = value, case .string(let tenant)? = p["tenant"] else {
                    problems.append("principals.\(name): needs tenant = \"…\"")
                    continue
                }
                var scopes: [String] = []
                if let list = p["scopes"] {
                    guard case .array(let items) = list, items.allSatisfy({ $0.stringValue != nil }) else {
                        problems.append("principals.\(name).scopes must be an array of strings")
                        continue
                    }
                    scopes = items.compactMap(\.stringValue)
                }
                principals[name] = Principal(name: name, tenant: tenant, scopes: scopes)
            }
        } else if doc["principals"] != nil {
            problems.append("[principals] must be a table")
        }
        let def = doc["default_principal"]?.stringValue ?? principals.keys.sorted().first ?? ""
        if principals[def] == nil { problems.append("default_principal '\(def)' is not defined under [principals]") }
        guard problems.isEmpty else { throw LoadProblems(problems.map { "\(path): \($0)" }) }
        return ServerConfig(principals: principals, defaultPrincipal: def)
    }
}
