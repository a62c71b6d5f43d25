import BulkheadProtocol
import Logging

/// `bulkhead check`: loads one plugin folder without serving it and reports
/// what it is and everything wrong with it.
public struct PluginCheckReport: Sendable {
    public var name: String?
    public var version: String?
    public var manifestABI: String?
    public var libraryABI: String?
    public var coreABI: String { ABIVersion.core.description }
    public var concurrency: String?
    /// "worker" or "in-process", once the policy was read.
    public var isolation: String?
    /// The worker's walls that were up (worker tier only).
    public var walls: [String] = []
    /// Each tool by its manifest name and the name clients see.
    public var tools: [(name: String, served: String, access: String, registered: Bool)] = []
    /// Resources (URIs and templates) and prompts (served names), each with whether init registered it.
    public var resources: [(uri: String, registered: Bool)] = []
    public var prompts: [(served: String, registered: Bool)] = []
    /// Each capability: what the manifest requests, what policy.toml grants, what the plugin gets.
    public var capabilities: [(name: String, kind: String, requested: String, granted: String, effective: String, reason: String)] = []
    public var notes: [String] = []
    public var problems: [String] = []

    public var ok: Bool { problems.isEmpty }
    /// Whether serve would load it: problems with the server configuration's
    /// principals leave a rule dead but do not stop the plugin loading.
    public var loads = false

    /// Checks `folder` as serve would load it, but writing nothing where serve
    /// would: read-write roots are not created and init gets empty temporary
    /// folders in their place (``CheckScratch``). With `config`, the policy's
    /// rules are also read against its principals (``PolicyReferences``).
    /// `taken`: plugin names folders loaded earlier hold.
    public static func run(folder: String, naming: ToolNaming = .underscore,
                           config: (config: ServerConfig, name: String)? = nil, taken: Set<String> = [],
                           logger: Logger) -> PluginCheckReport {
        let board = StatusBoard()
        var loader = PluginLoader(logger: logger, board: board, naming: naming)
        loader.checkOnly = true
        let (instance, report) = loader.load(folder: folder, taken: taken)
        var out = PluginCheckReport()
        out.name = report.manifest?.name
        out.version = report.manifest?.version
        if report.manifest == nil, let doc = try? TOMLDocument.load(path: FileIO.join(folder, PluginManifest.fileName)) {
            // An invalid manifest still usually names its plugin; say which one it is.
            out.name = doc["name"]?.stringValue
            out.version = doc["version"]?.stringValue
        }
        out.manifestABI = report.manifest?.abi.description
        out.libraryABI = report.libraryABI?.description
        out.concurrency = report.concurrency
        out.isolation = report.policy?.runtime.isolation.rawValue
        out.walls = report.walls
        let plugin = report.manifest?.name ?? "?"
        out.tools = (report.manifest?.tools ?? []).map {
            ($0.name, naming.servedName(plugin: plugin, tool: $0.name), $0.access.rawValue, report.registered.contains($0.name))
        }
        if let m = report.manifest {
            out.resources = (m.resources.map(\.uri) + m.resourceTemplates.map(\.uriTemplate)).map {
                ($0, report.registered.contains(FunctionKey.resource($0)))
            }
            out.prompts = m.prompts.map {
                (naming.servedName(plugin: plugin, tool: $0.name), report.registered.contains(FunctionKey.prompt($0.name)))
            }
        }
        out.capabilities = report.capabilities.map { ($0.name, $0.kind.rawValue, $0.requested, $0.granted, $0.effective, $0.reason) }
        out.notes = report.notes
        out.problems = report.problems
        out.loads = instance != nil
        if let config, let policy = report.policy {
            out.problems += PolicyReferences.problems(policy.access, config: config.config, configName: config.name)
        }
        instance?.shutdown()
        report.scratch?.removeAll()
        return out
    }
}
