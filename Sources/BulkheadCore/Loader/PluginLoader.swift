#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Logging

/// Turns a plugin folder into a running PluginInstance, or into the reasons it
/// cannot be one. Everything that can be checked without running plugin code
/// (manifest, policy, ABI, library file) is checked before dlopen.
struct PluginLoader {
    let logger: Logger
    let board: StatusBoard
    /// How served names are formed: a plugin whose names would break the rule is refused.
    var naming: ToolNaming = .underscore

    /// What `load` learned, also on failure (for `bulkhead check`).
    struct Report {
        var manifest: PluginManifest?
        var libraryABI: ABIVersion?
        var registered: [String] = []
        var concurrency: String?
        var capabilities: [CapabilitySet.Row] = []
        /// Worth telling the operator, but no reason to refuse.
        var notes: [String] = []
        var problems: [String] = []
    }

    /// Loads `folder`. `taken` holds plugin names already in use. On success the
    /// instance is initialised and its tools match its manifest.
    func load(folder rawFolder: String, taken: Set<String> = []) -> (PluginInstance?, Report) {
        var report = Report()
        let folder = FileIO.absolute(rawFolder)

        let manifest: PluginManifest
        do {
            manifest = try PluginManifest.load(folder: folder)
        } catch {
            report.problems = error.problems
            return (nil, report)
        }
        report.manifest = manifest

        let policy: PluginPolicy
        do {
            policy = try PluginPolicy.load(folder: folder, manifest: manifest)
        } catch {
            report.problems = error.problems
            return (nil, report)
        }
        report.notes = manifest.notes
        if !policy.access.present {
            report.notes.append("no \(PluginPolicy.fileName): deny by default, so this plugin serves nobody until its operator writes one")
        } else if policy.access.rules.isEmpty {
            report.notes.append("\(PluginPolicy.fileName) has no [[allow]] rule: this plugin serves nobody")
        }
        let (capabilities, capabilityProblems) = CapabilitySet.resolve(
            requests: manifest.capabilities, grants: policy.grants,
            mint: { HandleTable.shared.register(capabilityOf: manifest.name) })
        report.capabilities = capabilities.rows
        report.problems += capabilityProblems
        // Until the plugin is loaded, its tokens are revoked on every way out.
        var loaded = false
        defer { if !loaded { HandleTable.shared.unregister(capabilities: capabilities.byToken.keys) } }
        if let why = manifest.abi.incompatibility() {
            report.problems.append("manifest: plugin \(why)")
        }
        for tool in manifest.tools {
            if let why = naming.problem(plugin: manifest.name, tool: tool.name) { report.problems.append(why) }
        }
        if taken.contains(manifest.name) {
            report.problems.append("name '\(manifest.name)' is already taken by another plugin folder")
        }
        let libraryPath = FileIO.join(folder, manifest.library)
        if !FileIO.exists(libraryPath) {
            report.problems.append("library '\(manifest.library)' not found in \(folder) (build it first)")
        }
        guard report.problems.isEmpty else { return (nil, report) }

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
        } else if libraryABI != manifest.abi {
            report.problems.append("manifest says ABI \(manifest.abi) but the library was built for ABI \(libraryABI)")
        }
        guard report.problems.isEmpty else {
            dlclose(handle)
            return (nil, report)
        }
        guard let initSymbol = dlsym(handle, BH_PLUGIN_INIT_SYMBOL) else {
            report.problems.append("missing required symbol \(BH_PLUGIN_INIT_SYMBOL)")
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
