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
        guard let handle = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            report.problems.append("dlopen failed: \(dlerrorText())")
            return (nil, report)
        }
        guard let abiSymbol = dlsym(handle, BH_PLUGIN_ABI_SYMBOL) else {
            report.problems.append("missing required symbol \(BH_PLUGIN_ABI_SYMBOL) (define it with BULKHEAD_PLUGIN_ABI())")
            dlclose(handle)
            return (nil, report)
        }
        let abiFunction = unsafeBitCast(abiSymbol, to: bh_plugin_abi_fn.self)
        guard let abiInfo = abiFunction() else {
            report.problems.append("\(BH_PLUGIN_ABI_SYMBOL)() returned NULL")
            dlclose(handle)
            return (nil, report)
        }
        let info = abiInfo.pointee
        guard info.struct_size >= 12, info.magic == BH_ABI_MAGIC else {
            report.problems.append("bad magic 0x\(String(info.magic, radix: 16)) from \(BH_PLUGIN_ABI_SYMBOL) (expected 0x\(String(BH_ABI_MAGIC, radix: 16))): not a Bulkhead plugin")
            dlclose(handle)
            return (nil, report)
        }
        let libraryABI = ABIVersion(major: Int(info.abi_major), minor: Int(info.abi_minor))
        report.libraryABI = libraryABI
        if let why = libraryABI.incompatibility() {
            report.problems.append("library \(why)")
        } else if let manifest, libraryABI != manifest.abi {
            report.problems.append("manifest says ABI \(manifest.abi) but the library was built for ABI \(libraryABI)")
        }
        let initSymbol = dlsym(handle, BH_PLUGIN_INIT_SYMBOL)
        if initSymbol == nil, libraryABI.incompatibility() == nil {
            report.problems.append("missing required symbol \(BH_PLUGIN_INIT_SYMBOL)")
        }
        // Init runs only for a plugin that is in order so far: run with a broken
        // policy or a capability missing it would only fail for a reason already reported.
        guard report.problems.isEmpty, let manifest, let policy, let initSymbol else {
            if checkOnly && !report.problems.isEmpty {
                report.notes.append("init was not run: it runs only when everything before it is in order, and may find more")
            }
            dlclose(handle)
            return (nil, report)
        }
        let initFunction = unsafeBitCast(initSymbol, to: bh_plugin_init_fn.self)

        let instance = PluginInstance(manifest: manifest, policy: policy, capabilities: capabilities, folder: folder, naming: naming,
                                      board: board, logger: logger)
        instance.attach()
        instance.openRegistration()
        var def = bh_plugin_def()
        def.struct_size = UInt32(MemoryLayout<bh_plugin_def>.size)
        let status = initFunction(instance.table, bh_plugin(token: instance.token), &def)
        let registered = instance.closeRegistration(def: def)
        report.registered = registered
        report.concurrency = instance.concurrencyName
        // Once init has run, the library stays mapped even if refused: it may
        // have started threads or registered callbacks elsewhere (PostgreSQL
        // never unloads modules for the same reason).
        guard status == BH_OK else {
            report.problems.append("init failed: \(BH_PLUGIN_INIT_SYMBOL) returned \(StatusName.of(status))")
            instance.detach()
            return (nil, report)
        }
        let declared = manifest.tools.map(\.name)
        for name in registered where !declared.contains(name) {
            report.problems.append("tool '\(name)' registered by the plugin is not in the manifest")
        }
        for name in declared where !registered.contains(name) {
            report.problems.append("manifest tool '\(name)' was not registered by the plugin")
        }
        guard report.problems.isEmpty else {
            instance.shutdown()
            return (nil, report)
        }
        loaded = true
        return (instance, report)
    }

    private func dlerrorText() -> String {
        guard let e = dlerror() else { return "unknown error" }
        return String(cString: e)
    }
}
