import BulkheadProtocol

/// What the operator wrote in a plugin folder's `policy.toml`: the plugin's
/// configuration values and what it is granted. Local to that one plugin.
public struct PluginPolicy: Sendable {
    /// `[config]`: string values the plugin reads through host->config.
    public var config: [String: String]
    /// `[grants] core_status = true`: may read the core's state (for an admin plugin).
    public var grantsCoreStatus: Bool

    public static let fileName = "policy.toml"
    public static let none = PluginPolicy(config: [:], grantsCoreStatus: false)

    /// Reads `policy.toml` in `folder`; a folder without one gets no config and no grants.
    public static func load(folder: String) throws(LoadProblems) -> PluginPolicy {
        let path = FileIO.join(folder, fileName)
        guard FileIO.exists(path) else { return .none }
        let doc: JSONObject
        do {
            doc = try TOMLDocument.load(path: path)
        } catch {
            throw LoadProblems(["policy.toml is not valid TOML: \(error)"])
        }
        var problems: [String] = []
        var config: [String: String] = [:]
        switch doc["config"] {
        case .object(let table)?:
            for (key, value) in table {
                if case .string(let s) = value { config[key] = s } else {
                    problems.append("policy: config.\(key) must be a string")
                }
            }
        case nil: break
        default: problems.append("policy: [config] must be a table")
        }
        var coreStatus = false
        switch doc["grants"] {
        case .object(let table)?:
            for (key, value) in table {
                switch (key, value) {
                case ("core_status", .bool(let b)): coreStatus = b
                case ("core_status", _): problems.append("policy: grants.core_status must be true or false")
                default: problems.append("policy: unknown grant '\(key)'")
                }
            }
        case nil: break
        default: problems.append("policy: [grants] must be a table")
        }
        guard problems.isEmpty else { throw LoadProblems(problems) }
        return PluginPolicy(config: config, grantsCoreStatus: coreStatus)
    }
}
