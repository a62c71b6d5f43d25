/// Which entries of a plugins directory are plugin folders: shared by `serve`
/// and `check --plugins`, so that the check looks at exactly what serve loads.
public enum PluginFolders {
    /// What is wrong with `directory` as a plugins directory, or nil when it can be read.
    public static func problem(_ directory: String) -> String? {
        guard FileIO.exists(directory) else { return "no such directory" }
        guard FileIO.isDirectory(directory) else { return "not a directory" }
        guard FileIO.list(directory) != nil else { return "cannot read it (\(FileIO.lastErrorText()))" }
        return nil
    }

    /// The plugin folders in load order (bytewise by name), symlinks followed;
    /// hidden entries, plain files and folders without a manifest are left out.
    /// Nil when the directory cannot be read.
    static func list(_ directory: String, skipped: (String) -> Void = { _ in }) -> [(name: String, path: String)]? {
        guard let names = FileIO.list(directory) else { return nil }
        var out: [(name: String, path: String)] = []
        for name in names where !name.hasPrefix(".") {
            let folder = FileIO.join(directory, name)
            guard FileIO.isDirectory(folder) else { continue }
            guard FileIO.exists(FileIO.join(folder, PluginManifest.fileName)) else {
                skipped(name)
                continue
            }
            out.append((name, folder))
        }
        return out
    }
}
