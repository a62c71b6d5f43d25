#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Logging

/// Turns a plugin folder into a running PluginInstance, or into the reasons it
/// cannot be one. Everything that can be checked without running plugin code
/// (manifest, policy, grants, ABI, library file) is checked before dlopen, and
/// every problem found is reported, not just the first.
struct PluginLoader {
    let logger: Logger
    let board: StatusBoard
    /// How served names are formed: a plugin whose names would break the rule is refused.
    var naming: ToolNaming = .underscore
    /// `bulkhead check`: go on past problems as far as each stage still means
    /// something (a library with a broken policy is still opened to read its
    /// ABI), and write nothing where serve would (see ``CheckScratch``).
    var checkOnly = false

    /// What `load` learned, also on failure (for `bulkhead check`).
    struct Report {
        var manifest: PluginManifest?
        /// What of policy.toml parsed (nil when it is not TOML, or the manifest did not load).
        var policy: PluginPolicy?
        var libraryABI: ABIVersion?
        var registered: [String] = []
        var concurrency: String?
        /// The worker's walls that are up (worker tier only).
        var walls: [String] = []
        var capabilities: [CapabilitySet.Row] = []
        /// Worth telling the operator, but no reason to refuse.
        var notes: [String] = []
        var problems: [String] = []
        /// The temporary folders a check gave the plugin; removed once the plugin is shut down.
        var scratch: CheckScratch?
    }

    /// Loads `folder`. `taken` holds plugin names already in use. On success the
    /// instance is initialised and its tools match its manifest.
    func load(folder rawFolder: String, taken: Set<String> = []) -> (PluginInstance?, Report) {
        var report = Report()
        let folder = FileIO.absolute(rawFolder)

        var manifest: PluginManifest?
        var libraryName: String?
        do {
            manifest = try PluginManifest.load(folder: folder)
            libraryName = manifest?.library
        } catch {
            report.problems += error.problems
            // A manifest that does not load usually still names its library: that much can be checked.
            if let doc = try? TOMLDocument.load(path: FileIO.join(folder, PluginManifest.fileName)) {
                libraryName = doc["library"]?.stringValue
            }
        }
        report.manifest = manifest

        var policy: PluginPolicy?
        if let manifest {
            let (read, problems) = PluginPolicy.read(folder: folder, manifest: manifest)
            policy = read
            report.problems += problems
            report.notes = manifest.notes
            if let read, problems.isEmpty {
                if !read.access.present {
                    report.notes.append("no \(PluginPolicy.fileName): deny by default, so this plugin serves nobody until its operator writes one")
                } else if read.access.rules.isEmpty {
                    report.notes.append("\(PluginPolicy.fileName) has no [[allow]] rule: this plugin serves nobody")
                }
            }
        } else if let problem = PluginPolicy.syntaxProblem(folder: folder) {
            report.problems.append(problem)
        }
        report.policy = policy

        // Serve opens (and creates) roots only for a plugin it may still load;
        // a check resolves them regardless, since it opens nothing for writing.
        let scratch = checkOnly ? CheckScratch() : nil
        report.scratch = scratch
        var capabilities = CapabilitySet.empty
        if let manifest, let policy, checkOnly || report.problems.isEmpty {
            let (resolved, capabilityProblems) = CapabilitySet.resolve(
                requests: manifest.capabilities, grants: policy.grants, scratch: scratch,
                mint: { HandleTable.shared.register(capabilityOf: manifest.name) })
            capabilities = resolved
            report.capabilities = resolved.rows
            report.problems += capabilityProblems
            report.notes += scratch?.notes ?? []
        }
        // Until the plugin is loaded, its tokens are revoked on every way out.
        var loaded = false
        defer { if !loaded { HandleTable.shared.unregister(capabilities: capabilities.byToken.keys) } }
        if let manifest {
            if let why = manifest.abi.incompatibility() {
                report.problems.append("manifest: plugin \(why)")
            }
            for tool in manifest.tools {
                if let why = naming.problem(plugin: manifest.name, tool: tool.name) { report.problems.append(why) }
            }
            if taken.contains(manifest.name) {
                report.problems.append("name '\(manifest.name)' is already taken by another plugin folder")
            }
        }
        let libraryPath = libraryName.map { FileIO.join(folder, $0) }
        if let libraryName, let libraryPath, !FileIO.exists(libraryPath) {
            report.problems.append("library '\(libraryName)' not found in \(folder) (build it first)")
        }
        // Serve runs no code of a plugin it already knows it will refuse.
        guard let libraryPath, FileIO.exists(libraryPath), checkOnly || report.problems.isEmpty else { return (nil, report) }

        // From here on the plugin's own code runs.
        if let manifest, let policy, policy.runtime.isolation == .worker {
            return loadInWorker(manifest: manifest, policy: policy, capabilities: capabilities, folder: folder,
                                library: libraryPath, report: report, loaded: &loaded)
        }
        guard let handle = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            report.problems.append("dlopen failed: \(dlerrorText())")
            return (nil, report)
        }
        guard let abiSymbol = dlsym(handle, BH_PLUGIN_ABI_SYMBOL) else {
            report.problems.append(Self.missingABISymbol)
            dlclose(handle)
            return (nil, report)
        }
        let abiFunction = unsafeBitCast(abiSymbol, to: bh_plugin_abi_fn.self)
        guard let abiInfo = abiFunction() else {
            report.problems.append(Self.nullABI)
            dlclose(handle)
            return (nil, report)
        }
        let info = abiInfo.pointee
        let initSymbol = dlsym(handle, BH_PLUGIN_INIT_SYMBOL)
        guard info.struct_size >= 12 else {
            report.problems.append(Self.badMagic(info.magic))
            dlclose(handle)
            return (nil, report)
        }
        Self.checkLibrary(magic: info.magic, abi: ABIVersion(major: Int(info.abi_major), minor: Int(info.abi_minor)),
                          hasInit: initSymbol != nil, manifest: manifest, report: &report)
        // Init runs only for a plugin that is in order so far: run with a broken
        // policy or a capability missing it would only fail for a reason already reported.
        guard report.problems.isEmpty, let manifest, let policy, let initSymbol else {
            if checkOnly && !report.problems.isEmpty {
                report.notes.append(Self.initNotRun)
            }
            dlclose(handle)
            return (nil, report)
        }
        let initFunction = unsafeBitCast(initSymbol, to: bh_plugin_init_fn.self)

        let instance = PluginInstance(manifest: manifest, policy: policy, capabilities: capabilities, folder: folder, naming: naming,
                                      board: board, logger: logger)
        instance.runtime = InProcessRuntime(table: instance.table)
        instance.attach()
        instance.openRegistration()
        var def = bh_plugin_def()
        def.struct_size = UInt32(MemoryLayout<bh_plugin_def>.size)
        let status = initFunction(instance.table, bh_plugin(token: instance.token), &def)
        let registered = instance.closeRegistration(def: def)
        // Once init has run, the library stays mapped even if refused: it may
        // have started threads or registered callbacks elsewhere (PostgreSQL
        // never unloads modules for the same reason).
        return finishLoading(instance, status: status, registered: registered, report: report, loaded: &loaded)
    }

    /// The worker tier: the library is opened and its init run in the worker, never here.
    private func loadInWorker(manifest: PluginManifest, policy: PluginPolicy, capabilities: CapabilitySet, folder: String,
                              library: String, report: Report, loaded: inout Bool) -> (PluginInstance?, Report) {
        var report = report
        let runtime = WorkerRuntime(launch: WorkerLaunch.make(plugin: manifest.name, library: library, folder: folder,
                                                              capabilities: capabilities, policy: policy.runtime),
                                    logger: logger)
        let hello: WorkerRuntime.Hello
        let started = MonotonicClock.now()
        switch runtime.start() {
        case .failure(let why):
            report.problems.append("worker: \(why)")
            return (nil, report)
        case .success(let h):
            hello = h
        }
        report.walls = WorkerRuntime.wallNames(hello.walls)
        switch hello.outcome {
        case BHW_HELLO_OK: break
        case BHW_HELLO_WALL_FAILED: report.problems.append("worker: a wall could not be raised, and the plugin is not run with less: \(hello.detail)")
        case BHW_HELLO_DLOPEN_FAILED: report.problems.append("dlopen failed: \(hello.detail)")
        case BHW_HELLO_NO_ABI_SYMBOL: report.problems.append(Self.missingABISymbol)
        case BHW_HELLO_ABI_NULL: report.problems.append(Self.nullABI)
        default: report.problems.append("worker: an unknown hello (\(hello.outcome.rawValue))")
        }
        if hello.outcome == BHW_HELLO_OK {
            if hello.walls != WorkerRuntime.allWalls {
                report.problems.append("worker: only these walls are up: \(report.walls.joined(separator: ", ")); the plugin is not run with less")
            }
            Self.checkLibrary(magic: hello.magic, abi: hello.abi, hasInit: hello.hasInit, manifest: manifest, report: &report)
        }
        guard report.problems.isEmpty else {
            if checkOnly && hello.outcome == BHW_HELLO_OK { report.notes.append(Self.initNotRun) }
            runtime.stop(until: MonotonicClock.now() + 1_000_000_000)
            return (nil, report)
        }
        let instance = PluginInstance(manifest: manifest, policy: policy, capabilities: capabilities, folder: folder, naming: naming,
                                      board: board, logger: logger)
        instance.runtime = runtime
        instance.attach()
        instance.openRegistration()
        let status: bh_status
        var def = bh_plugin_def()
        def.struct_size = UInt32(MemoryLayout<bh_plugin_def>.size)
        switch runtime.initialize(instance: instance, threads: PluginInstance.parallelThreads) {
        case .failure(let why):
            _ = instance.closeRegistration(def: def)
            report.problems.append("init failed: \(why)")
            runtime.stop(until: MonotonicClock.now() + 1_000_000_000)
            instance.detach()
            return (nil, report)
        case .success(let done):
            status = done.status
            def.concurrency = done.concurrency
        }
        let registered = instance.closeRegistration(def: def)
        runtime.adopt(tools: registered)
        let ms = Double((MonotonicClock.now() - started) / 1000) / 1000
        logger.info("plugin '\(manifest.name)' worker (pid \(runtime.description.pid ?? 0)) ready in \(ms) ms, init included; walls: \(report.walls.joined(separator: ", "))")
        return finishLoading(instance, status: status, registered: registered, report: report, loaded: &loaded)
    }

    /// After init, in either tier: its status, and the tools against the manifest.
    private func finishLoading(_ instance: PluginInstance, status: bh_status, registered: [String], report: Report,
                               loaded: inout Bool) -> (PluginInstance?, Report) {
        var report = report
        report.registered = registered
        report.concurrency = instance.concurrencyName
        guard status == BH_OK else {
            report.problems.append("init failed: \(BH_PLUGIN_INIT_SYMBOL) returned \(StatusName.of(status))")
            instance.runtime.stop(until: MonotonicClock.now() + 1_000_000_000)
            instance.detach()
            return (nil, report)
        }
        let declared = FunctionKey.declared(by: instance.manifest)
        for key in registered where !declared.contains(key) {
            report.problems.append("\(FunctionKey.describe(key)) registered by the plugin is not in the manifest")
        }
        for key in declared where !registered.contains(key) {
            report.problems.append("manifest \(FunctionKey.describe(key)) was not registered by the plugin")
        }
        guard report.problems.isEmpty else {
            instance.shutdown()
            return (nil, report)
        }
        loaded = true
        return (instance, report)
    }

    private static let missingABISymbol = "missing required symbol \(BH_PLUGIN_ABI_SYMBOL) (define it with BULKHEAD_PLUGIN_ABI())"
    private static let nullABI = "\(BH_PLUGIN_ABI_SYMBOL)() returned NULL"
    private static let initNotRun = "init was not run: it runs only when everything before it is in order, and may find more"

    private static func badMagic(_ magic: UInt32) -> String {
        "bad magic 0x\(String(magic, radix: 16)) from \(BH_PLUGIN_ABI_SYMBOL) (expected 0x\(String(BH_ABI_MAGIC, radix: 16))): not a Bulkhead plugin"
    }

    /// What bulkhead_plugin_abi() said, against the core and the manifest: the same in both tiers.
    private static func checkLibrary(magic: UInt32, abi libraryABI: ABIVersion, hasInit: Bool, manifest: PluginManifest?,
                                     report: inout Report) {
        guard magic == BH_ABI_MAGIC else {
            report.problems.append(badMagic(magic))
            return
        }
        report.libraryABI = libraryABI
        if let why = libraryABI.incompatibility() {
            report.problems.append("library \(why)")
        } else if let manifest, libraryABI != manifest.abi {
            report.problems.append("manifest says ABI \(manifest.abi) but the library was built for ABI \(libraryABI)")
        }
        if !hasInit, libraryABI.incompatibility() == nil {
            report.problems.append("missing required symbol \(BH_PLUGIN_INIT_SYMBOL)")
        }
    }

    private func dlerrorText() -> String {
        guard let e = dlerror() else { return "unknown error" }
        return String(cString: e)
    }
}
