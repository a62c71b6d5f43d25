#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Logging
import Synchronization

/// The union of all loaded plugins, served as one set of tools named
/// "<plugin>__<tool>" (see ``ToolNaming``). This is what the protocol layer talks to.
public final class PluginHost: ToolProvider {
    /// By served name, compared code point by code point: a lookalike spelling is an unknown tool.
    let entries: [ExactKey: ServedEntry]
    /// Every entry in tools/list order.
    let ordered: [ServedEntry]
    /// tools/list per principal (name, tenant and scopes, code point by code point):
    /// what its plugins' policies let it see, computed once. Bounded, because over
    /// HTTP every token subject is a principal: past the bound it starts afresh.
    private let visible = Mutex<[VisibilityKey: [ServedEntry]]>([:])
    private struct VisibilityKey: Hashable {
        let name: ExactKey, tenant: ExactKey, scopes: [ExactKey]
        init(_ p: Principal) {
            name = ExactKey(p.name)
            tenant = ExactKey(p.tenant)
            scopes = p.scopes.map { ExactKey($0) }
        }
    }
    private static let visibleCacheLimit = 4096
    /// Resources by URI scheme (one plugin each), and prompts by served name.
    let resourceIndex: [String: PluginResources]
    let prompts: [ExactKey: ServedEntry]
    let orderedPrompts: [ServedEntry]
    /// Completion functions, by FunctionKey.completion(ref) and the plugin's name.
    let completions: [ExactKey: ServedEntry]
    /// Who listens for which resources' changes.
    let subscriptionHub = ResourceSubscriptions()
    let plugins: [PluginInstance]
    let board: StatusBoard
    let config: ServerConfig
    let consent: ConsentGate
    let audit: AuditLog?
    let logger: Logger
    /// Set when the server begins to shut down: new calls are refused from then on.
    let draining = Atomic<Bool>(false)

    /// Loaded plugin names, in load order.
    public var pluginNames: [String] { plugins.map(\.name) }
    /// Each loaded plugin and whether it serves now (a failed worker does not).
    public var pluginHealth: [(name: String, serving: Bool)] { plugins.map { ($0.name, $0.runtime.serving) } }
    /// The audit trail, when one is kept.
    public var auditLog: AuditLog? { audit }
    /// Refused folders and why.
    public var refusals: [(folder: String, reason: String)] { board.refusals.map { ($0.folder, $0.reason) } }

    /// Loads every plugin folder under `directory` (sorted by name, symlinks
    /// followed, hidden entries and folders without a manifest skipped). A
    /// folder that fails is refused with one log line; the rest keep loading.
    /// `usedNonces`: where redeemed consent states are remembered (`[consent] state_dir`); nil, in memory.
    public init(directory: String, config: ServerConfig = .empty, audit: AuditLog? = nil, usedNonces: UsedNonces? = nil,
                logger: Logger) {
        self.config = config
        self.audit = audit
        self.logger = logger
        self.consent = ConsentGate(seal: ConsentSeal(key: config.consentKey ?? ConsentSeal.randomKey(),
                                                     ttlMilliseconds: Int64(config.consentTTLSeconds) * 1000,
                                                     used: usedNonces ?? UsedNonces()))
        if config.consentKey != nil && usedNonces == nil {
            // A shared key makes other processes accept this one's states; only a shared folder stops a second use there.
            logger.warning("consent: a key is configured but no [consent] state_dir, so a requestState is single-use only within this process: another process with the same key (or this server restarted) would accept it once more")
        }
        let board = StatusBoard()
        self.board = board
        let loader = PluginLoader(logger: logger, board: board, naming: config.toolNaming)
        var plugins: [PluginInstance] = []
        var taken = Set<String>()
        if let folders = PluginFolders.list(directory, skipped: { logger.debug("skipping '\($0)': no \(PluginManifest.fileName)") }) {
            for (name, folder) in folders {
                let (instance, report) = loader.load(folder: folder, taken: taken)
                if let instance {
                    taken.insert(instance.name)
                    plugins.append(instance)
                    board.add(instance)
                    let m = instance.manifest
                    let served = Self.servedSummary(m)
                    logger.info("loaded plugin '\(instance.name)' \(m.version) from \(name)/: \(served), \(instance.concurrencyName)")
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

        var entries: [ExactKey: ServedEntry] = [:]
        var ordered: [ServedEntry] = []
        for plugin in plugins.sorted(by: { $0.name < $1.name }) {
            let access = plugin.policy.access
            for tool in plugin.manifest.tools.sorted(by: { $0.name < $1.name }) {
                let full = plugin.servedName(tool.name)
                guard let fn = plugin.tools[exactly: tool.name] else { continue }
                var annotations: JSONObject = [
                    "readOnlyHint": .bool(tool.access == .read),
                    "destructiveHint": .bool(tool.access == .write),
                ]
                if let title = tool.title { annotations["title"] = .string(title) }
                let descriptor = ToolDescriptor(
                    name: full, title: tool.title, description: tool.description,
                    inputSchema: tool.inputSchema, outputSchema: tool.outputSchema,
                    annotations: annotations,
                    meta: ["bulkhead/plugin": .string(plugin.name), "bulkhead/access": .string(tool.access.rawValue)]
                )
                let own = access.toolLimits[exactly: tool.name]
                let entry = ServedEntry(
                    plugin: plugin, tool: tool, function: fn, descriptor: descriptor,
                    limits: access.effectiveLimits(for: tool.name), clamps: access.clamps[exactly: tool.name],
                    rateKey: own?.callsPerMinute != nil ? tool.name : "*",
                    concurrencyKey: own?.concurrentCalls != nil ? tool.name : "*",
                    primitive: .tool, policyName: tool.name, functionKey: FunctionKey.tool(tool.name))
                entries[exactly: full] = entry
                ordered.append(entry)
            }
            if !access.present {
                logger.warning("plugin '\(plugin.name)' has no \(PluginPolicy.fileName): it serves nobody until its operator writes one")
            }
        }
        self.entries = entries
        self.ordered = ordered
        let (index, prompts, orderedPrompts) = Self.resourceEntries(plugins)
        self.resourceIndex = index
        self.prompts = prompts
        self.orderedPrompts = orderedPrompts
        self.completions = Self.completionEntries(plugins)
        for plugin in plugins {
            plugin.changeListener.withLock { [subscriptionHub] in $0 = { uri in subscriptionHub.changed(uri) } }
        }
    }

    /// "2 tools, 1 resource, 1 prompt": what a plugin serves, for its load line.
    private static func servedSummary(_ m: PluginManifest) -> String {
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        var parts = [count(m.tools.count, "tool")]
        let resources = m.resources.count + m.resourceTemplates.count
        if resources > 0 { parts.append(count(resources, "resource")) }
        if !m.prompts.isEmpty { parts.append(count(m.prompts.count, "prompt")) }
        return parts.joined(separator: ", ")
    }

    /// Only the tools this caller may call: the rest are not there for it.
    public func tools(for context: RequestContext) -> [ToolDescriptor] {
        let principal = self.principal(of: context)
        let list: [ServedEntry]
        let key = VisibilityKey(principal)
        if let cached = visible.withLock({ $0[key] }) {
            list = cached
        } else {
            list = ordered.filter { $0.plugin.policy.access.allows(principal, tool: $0.tool.name) }
            visible.withLock {
                if $0.count >= Self.visibleCacheLimit { $0.removeAll(keepingCapacity: true) }
                $0[key] = list
            }
        }
        // A failed plugin's tools leave the list; the rest of it stays as computed.
        return list.compactMap { $0.plugin.runtime.serving ? $0.descriptor : nil }
    }

    /// A token-proven caller as the token says; otherwise the configured principal of that name.
    func principal(of context: RequestContext) -> Principal {
        if let caller = context.caller { return Principal(name: caller.name, tenant: caller.tenant, scopes: caller.scopes) }
        return context.principal.flatMap { config.principals[exactly: $0] } ?? .local
    }

    public func callTool(name: String, arguments: JSONObject, context: RequestContext,
                         complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        pass(entries[exactly: name], name: name, arguments: arguments, kind: .tool, context: context, complete: complete)
    }

    /// The server begins to shut down: every new call is refused with `unavailable`
    /// (and audited so); calls in flight go on.
    public func beginDrain() {
        draining.store(true, ordering: .relaxed)
        // Subscriptions end at once: a listen would otherwise hold the drain to its deadline.
        subscriptionHub.endAll()
    }

    /// The drain deadline passed: every call still in flight is answered `unavailable`
    /// now (and audited so), and its plugin sees it cancelled; a plugin returning
    /// from it later answers nothing.
    public func answerRemainingCalls() {
        DeadlineWatcher.shared.fireAll(owner: ObjectIdentifier(self))
    }

    /// Calls each plugin's destroy once its last call has returned, giving plugins
    /// still inside a call up to `grace` (altogether) to return. A plugin still
    /// inside one after that is not destroyed, since destroy must never run beside
    /// a call; it is logged and its name returned.
    @discardableResult
    public func shutdown(grace: Duration = .seconds(1)) -> [String] {
        let (seconds, attoseconds) = grace.components
        let graceNanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        let deadline = MonotonicClock.now() + graceNanoseconds
        return plugins.filter { !$0.shutdown(until: deadline) }.map(\.name)
    }

    /// The state of every plugin as JSON (what the admin plugin sees).
    public func statusJSON() -> JSONValue { board.snapshot() }
}
