#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Logging

/// The union of all loaded plugins, served as one set of tools named
/// "<plugin>.<tool>". This is what the protocol layer talks to.
public final class PluginHost: ToolProvider {
    private struct Entry: Sendable {
        let plugin: PluginInstance
        let tool: PluginManifest.Tool
        let function: RegisteredTool
    }

    private let entries: [String: Entry]
    private let descriptors: [ToolDescriptor]
    private let plugins: [PluginInstance]
    private let board: StatusBoard
    private let config: ServerConfig
    private let logger: Logger

    /// Loaded plugin names, in load order.
    public var pluginNames: [String] { plugins.map(\.name) }
    /// Refused folders and why.
    public var refusals: [(folder: String, reason: String)] { board.refusals.map { ($0.folder, $0.reason) } }

    /// Loads every plugin folder under `directory` (sorted by name, symlinks
    /// followed, hidden entries and folders without a manifest skipped). A
    /// folder that fails is refused with one log line; the rest keep loading.
    public init(directory: String, config: ServerConfig = .empty, logger: Logger) {
        self.config = config
        self.logger = logger
        let board = StatusBoard()
        self.board = board
        let loader = PluginLoader(logger: logger, board: board)
        var plugins: [PluginInstance] = []
        var taken = Set<String>()
        if let names = FileIO.list(directory) {
            for name in names where !name.hasPrefix(".") {
                let folder = FileIO.join(directory, name)
                guard FileIO.isDirectory(folder) else { continue }
                guard FileIO.exists(FileIO.join(folder, PluginManifest.fileName)) else {
                    logger.debug("skipping '\(name)': no \(PluginManifest.fileName)")
                    continue
                }
                let (instance, report) = loader.load(folder: folder, taken: taken)
                if let instance {
                    taken.insert(instance.name)
                    plugins.append(instance)
                    board.add(instance)
                    logger.info("loaded plugin '\(instance.name)' \(instance.manifest.version) from \(name)/: \(instance.manifest.tools.count) tools, \(instance.concurrencyName)")
                } else {
                    let reason = report.problems.joined(separator: "; ")
                    board.refuse(folder: name, reason: reason)
                    logger.error("refused plugin '\(name)' (\(FileIO.absolute(folder))): \(reason)")
                }
            }
        } else {
            logger.error("cannot read plugin directory \(directory)")
        }
        self.plugins = plugins

        var entries: [String: Entry] = [:]
        var descriptors: [ToolDescriptor] = []
        for plugin in plugins.sorted(by: { $0.name < $1.name }) {
            for tool in plugin.manifest.tools.sorted(by: { $0.name < $1.name }) {
                let full = "\(plugin.name).\(tool.name)"
                guard let fn = plugin.tools[tool.name] else { continue }
                entries[full] = Entry(plugin: plugin, tool: tool, function: fn)
                var annotations: JSONObject = [
                    "readOnlyHint": .bool(tool.access == .read),
                    "destructiveHint": .bool(tool.access == .write),
                ]
                if let title = tool.title { annotations["title"] = .string(title) }
                descriptors.append(ToolDescriptor(
                    name: full, title: tool.title, description: tool.description,
                    inputSchema: tool.inputSchema, outputSchema: tool.outputSchema,
                    annotations: annotations,
                    meta: ["bulkhead/plugin": .string(plugin.name), "bulkhead/access": .string(tool.access.rawValue)]
                ))
            }
        }
        self.entries = entries
        self.descriptors = descriptors
    }

    public func tools(for context: RequestContext) -> [ToolDescriptor] {
        descriptors
    }

    public func callTool(name: String, arguments: JSONObject, context: RequestContext,
                         complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        guard let entry = entries[name] else {
            complete(.unknownTool(name))
            return nil
        }
        let principal = context.principal.flatMap { config.principals[$0] } ?? .local
        let plugin = entry.plugin
        let call = CallState(plugin: plugin, tool: entry.tool.name, arguments: arguments, principal: principal, deadline: nil)
        let provenance: JSONObject = [
            "plugin": .string(plugin.name),
            "version": .string(plugin.manifest.version),
            "trustDomain": .string(plugin.name),
            "tool": .string(entry.tool.name),
            "access": .string(entry.tool.access.rawValue),
            "principal": .string(principal.name),
            "tenant": .string(principal.tenant),
        ]
        plugin.calls.wrappingAdd(1, ordering: .relaxed)
        plugin.inFlight.wrappingAdd(1, ordering: .relaxed)
        let function = entry.function
        plugin.executor.submit {
            var result: ToolResult
            if call.isCancelled {
                result = ToolErrors.result(.cancelled, "cancelled before it started")
            } else {
                let token = HandleTable.shared.register(call: call)
                let status = CurrentCall.with(token: token, state: call) {
                    function.function(plugin.table, bh_call(token: token), function.userData)
                }
                HandleTable.shared.unregister(call: token)
                result = call.finish(status: status)
            }
            plugin.inFlight.wrappingAdd(-1, ordering: .relaxed)
            if result.isError { plugin.errors.wrappingAdd(1, ordering: .relaxed) }
            result.meta = ["bulkhead/provenance": .object(provenance)]
            complete(.result(result))
        }
        return CallCancellation(call: call)
    }

    /// Lets calls in flight finish, then calls each plugin's destroy.
    public func shutdown() {
        for plugin in plugins { plugin.shutdown() }
    }

    /// The state of every plugin as JSON (what the admin plugin sees).
    public func statusJSON() -> JSONValue { board.snapshot() }
}

/// Cancels one call: sets the flag the plugin polls with is_cancelled.
private struct CallCancellation: ToolCallCancellation {
    let call: CallState
    func cancel(reason: String?) {
        call.cancelledFlag.store(true, ordering: .relaxed)
    }
}
