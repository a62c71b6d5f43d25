import Logging

/// `bulkhead check --plugins DIR`: every folder serve would load from DIR,
/// checked in serve's order, so that a name taken by an earlier folder is
/// reported for the later one as serve would refuse it.
public enum DirectoryCheck {
    public struct Folder: Sendable {
        public var name: String
        public var path: String
        public var report: PluginCheckReport
    }

    /// Nil when `directory` cannot be read (``PluginFolders/problem(_:)`` says why).
    public static func run(directory: String, naming: ToolNaming, config: (config: ServerConfig, name: String)?,
                           logger: Logger) -> [Folder]? {
        guard let folders = PluginFolders.list(directory) else { return nil }
        var taken = Set<String>()
        var out: [Folder] = []
        for (name, path) in folders {
            let report = PluginCheckReport.run(folder: path, naming: naming, config: config, taken: taken, logger: logger)
            if report.loads, let plugin = report.name { taken.insert(plugin) }
            out.append(Folder(name: name, path: path, report: report))
        }
        return out
    }
}
