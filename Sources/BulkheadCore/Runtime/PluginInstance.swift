#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Logging
import Synchronization

/// A tool function the plugin registered during init.
struct RegisteredTool: @unchecked Sendable {
    // C function and opaque pointer: owned by the plugin, valid while it is loaded.
    let function: bh_tool_fn
    let userData: UnsafeMutableRawPointer?
}

/// How a plugin is doing, as the admin plugin and `bulkhead check` report it.
enum PluginHealth: Int, Sendable {
    case ok = 0
    /// A call overran its deadline and never returned: the plugin may be stuck.
    case degraded = 1
    /// Its worker died more often than its restart budget allows: it serves nothing.
    case failed = 2
}

/// A loaded plugin: its manifest and policy, the host table bound to it, the
/// tools it registered, the threads that run its calls, and its counters.
final class PluginInstance: @unchecked Sendable {
    // Set while loading, on the loading thread, and immutable once the
    // instance is published to the registry; the Mutexes guard the rest.
    let manifest: PluginManifest
    let policy: PluginPolicy
    /// What the plugin may reach: its manifest's requests that the operator granted.
    let capabilities: CapabilitySet
    let folder: String
    let logger: Logger
    /// What the plugin itself writes through host->log: labelled `plugin`, never
    /// `bulkhead`, so no line it writes can pass for one of the core's.
    let pluginLogger: Logger
    let board: StatusBoard
    private(set) var token: UInt64 = 0
    let table: UnsafeMutablePointer<bh_host_api>
    private(set) var concurrency: bh_concurrency = BH_CONCURRENCY_SERIAL
    private(set) var state: UnsafeMutableRawPointer?
    private(set) var destroy: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?
    private(set) var executor: PluginExecutor!
    /// Where its tool functions run: in this process, or in its worker. Set by the loader before publishing.
    var runtime: PluginRuntime!

    private struct Registration: ~Copyable {
        var open = false
        var tools: [ExactKey: RegisteredTool] = [:]
        var order: [String] = []
    }
    private let registration = Mutex(Registration())
    /// The registered tools, frozen when init returns.
    private(set) var tools: [ExactKey: RegisteredTool] = [:]

    /// Owns the memory `config` lends out, for the plugin's lifetime.
    private let configLent: Mutex<BorrowedBytes>
    let config: [ExactKey: bh_bytes]

    let calls = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let health = Atomic<Int>(PluginHealth.ok.rawValue)
    /// Calls that overran their deadline and have not returned yet; the plugin is degraded while any do.
    let overrunning = Atomic<Int>(0)
    /// Who hears of `resource_changed`: the served union's subscriptions, once it is built.
    let changeListener = Mutex<(@Sendable (String) -> Void)?>(nil)

    func resourceChanged(_ uri: String) {
        changeListener.withLock { $0 }?(uri)
    }

    /// The policy's rate and concurrency counters.
    let limiter = CallLimiter()
    /// Threads inside one of the plugin's tool functions right now.
    private let inside = Atomic<Int>(0)
    /// Set by shutdown: no call may enter the plugin any more.
    private let closed = Atomic<Bool>(false)

    var name: String { manifest.name }

    /// How this plugin's tools are named on the wire.
    let naming: ToolNaming

    /// The name clients see for one of this plugin's tools.
    func servedName(_ tool: String) -> String { naming.servedName(plugin: name, tool: tool) }

    init(manifest: PluginManifest, policy: PluginPolicy, capabilities: CapabilitySet, folder: String,
         naming: ToolNaming, board: StatusBoard, logger: Logger) {
        self.manifest = manifest
        self.naming = naming
        self.policy = policy
        self.capabilities = capabilities
        self.folder = folder
        self.board = board
        var logger = logger
        logger[metadataKey: "plugin"] = .string(manifest.name)
        self.logger = logger
        var own = Logger(label: "plugin")
        own.logLevel = logger.logLevel
        own[metadataKey: "plugin"] = .string(manifest.name)
        self.pluginLogger = own
        self.table = .allocate(capacity: 1)
        self.table.initialize(to: HostTable.make())
        var values = policy.config
        values["plugin_dir"] = folder
        var lent = BorrowedBytes()
        var config: [ExactKey: bh_bytes] = [:]
        for (k, v) in values { config[exactly: k] = lent.lend(v) }
        self.config = config
        self.configLent = Mutex(lent)
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
    }

    // MARK: Loading (loader thread only)

    func attach() {
        token = HandleTable.shared.register(plugin: self)
    }

    /// Invalidates the plugin's handle and every capability token it holds.
    func detach() {
        HandleTable.shared.unregister(plugin: token)
        HandleTable.shared.unregister(capabilities: capabilities.byToken.keys)
    }

    func openRegistration() { registration.withLock { $0.open = true } }

    /// Closes registration and returns the tool names in registration order.
    func closeRegistration(def: bh_plugin_def) -> [String] {
        let (tools, order) = registration.withLock { r in
            r.open = false
            return (r.tools, r.order)
        }
        self.tools = tools
        self.concurrency = def.concurrency == BH_CONCURRENCY_PARALLEL.rawValue ? BH_CONCURRENCY_PARALLEL : BH_CONCURRENCY_SERIAL
        self.state = def.state
        self.destroy = def.destroy
        let threads = concurrency == BH_CONCURRENCY_PARALLEL ? PluginInstance.parallelThreads : 1
        self.executor = PluginExecutor(name: manifest.name, maxThreads: threads)
        return order
    }

    /// Threads a parallel plugin may use at once.
    static let parallelThreads = 16

    /// Called through host->register_tool.
    func register(tool name: String, function: bh_tool_fn, userData: UnsafeMutableRawPointer?) -> bh_status {
        registration.withLock { r in
            guard r.open else { return BH_E_NOT_ALLOWED }
            guard r.tools[exactly: name] == nil else { return BH_E_NOT_ALLOWED }
            r.tools[exactly: name] = RegisteredTool(function: function, userData: userData)
            r.order.append(name)
            return BH_OK
        }
    }

    /// Counts a thread into one of the plugin's tool functions; false once the
    /// plugin is shut, and then the call must not run. Pair a true with ``leaveCall()``.
    ///
    /// Sequentially consistent with ``shutdown(until:)``'s store of `closed` and load
    /// of `inside`: either shutdown sees this call inside and waits for it, or this
    /// call sees the plugin closed and stays out. Leaving stays one atomic decrement,
    /// on every call's path; only shutdown pays for waiting, by polling.
    func enterCall() -> Bool {
        inside.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if closed.load(ordering: .sequentiallyConsistent) {
            inside.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            return false
        }
        return true
    }

    func leaveCall() {
        inside.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }

    /// Closes the plugin to new calls and calls its destroy, once, after its last
    /// call returned, waiting for that until `deadline` (monotonic nanoseconds).
    /// A plugin still inside a call then is left alone — neither destroyed nor
    /// detached, since its call may still use its handles — and false is returned.
    @discardableResult
    func shutdown(until deadline: UInt64 = .max) -> Bool {
        executor?.stop()
        closed.store(true, ordering: .sequentiallyConsistent)
        while inside.load(ordering: .sequentiallyConsistent) > 0 {
            if MonotonicClock.now() >= deadline {
                logger.warning("plugin '\(name)' is still inside a call at shutdown: its destroy is skipped, so that it never runs beside a call")
                return false
            }
            usleep(2_000)
        }
        if let destroy {
            self.destroy = nil
            destroy(state)
        }
        runtime?.stop(until: deadline)
        detach()
        return true
    }

    var concurrencyName: String { concurrency == BH_CONCURRENCY_PARALLEL ? "parallel" : "serial" }
}
