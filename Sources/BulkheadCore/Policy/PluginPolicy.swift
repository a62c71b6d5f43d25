import BulkheadProtocol

/// What the operator wrote in a plugin folder's `policy.toml`: the plugin's
/// configuration values and the capabilities granted to it. Local to that
/// one plugin, and read against that plugin's manifest alone.
public struct PluginPolicy: Sendable {
    /// `[config]`: string values the plugin reads through host->config.
    public var config: [String: String]
    /// `[grants.<capability>]`: what the operator grants of what the manifest requests.
    public var grants: [String: CapabilityGrant]
    /// `[[allow]]`, `[limits]`, `[clamp]`: who may see and call which tools, within what limits.
    public var access: AccessPolicy
    /// `[runtime]`: the tier the plugin runs in and its worker's limits.
    public var runtime: RuntimePolicy = .defaults

    public static let fileName = "policy.toml"
    /// A folder without policy.toml: no configuration, no grants, and nobody may call it.
    public static let none = PluginPolicy(config: [:], grants: [:], access: .denyAll)

    /// Reads `policy.toml` in `folder`; a folder without one gets no config and no grants.
    public static func load(folder: String, manifest: PluginManifest) throws(LoadProblems) -> PluginPolicy {
        let (policy, problems) = read(folder: folder, manifest: manifest)
        guard let policy, problems.isEmpty else { throw LoadProblems(problems) }
        return policy
    }

    /// Like `load`, but keeps what did parse next to every problem, so that a
    /// check can go on to the capabilities and rules that are in order. Nil
    /// only when the file is not TOML at all.
    static func read(folder: String, manifest: PluginManifest) -> (PluginPolicy?, [String]) {
        let path = FileIO.join(folder, fileName)
        guard FileIO.exists(path) else { return (PluginPolicy.none, []) }
        let doc: JSONObject
        do {
            doc = try TOMLDocument.load(path: path)
        } catch {
            return (nil, [syntaxProblem(error)])
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
        let grants = CapabilityGrant.parseAll(doc["grants"], requests: manifest.capabilities, folder: folder,
                                              problems: &problems)
        let access = AccessPolicy.parse(doc, tools: manifest.tools.map(\.name),
                                        resources: manifest.resources.map(\.uri) + manifest.resourceTemplates.map(\.uriTemplate),
                                        prompts: manifest.prompts.map(\.name), problems: &problems)
        let runtime = RuntimePolicy.parse(doc["runtime"], problems: &problems)
        for key in doc.keys where !["config", "grants", "allow", "preapprove", "limits", "clamp", "runtime"].contains(key) {
            problems.append("policy: unknown table or key '\(key)' (known: allow, clamp, config, grants, limits, preapprove, runtime)")
        }
        return (PluginPolicy(config: config, grants: grants, access: access, runtime: runtime), problems)
    }

    /// Whether `folder`'s policy.toml is TOML at all: all that can be said of
    /// it when the manifest it is read against did not load.
    static func syntaxProblem(folder: String) -> String? {
        let path = FileIO.join(folder, fileName)
        guard FileIO.exists(path) else { return nil }
        do {
            _ = try TOMLDocument.load(path: path)
            return nil
        } catch {
            return syntaxProblem(error)
        }
    }

    private static func syntaxProblem(_ error: some Error) -> String { "policy.toml is not valid TOML: \(error)" }
}
