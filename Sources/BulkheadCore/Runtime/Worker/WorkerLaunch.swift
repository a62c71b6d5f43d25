#if canImport(Glibc)
import Glibc
#endif

/// The command line of one plugin's worker: which library, and what its
/// walls let through — the plugin's folder and the system's library folders
/// to read and map, each granted files root as the grant says, the limits.
enum WorkerLaunch {
    /// `bulkhead-worker`, beside the server's own executable.
    static let executable: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "bulkhead-worker" }
        let own = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return FileIO.join(String(own[..<(own.lastIndex(of: "/") ?? own.startIndex)]), "bulkhead-worker")
    }()

    /// Where shared libraries live here, and the Swift runtime's folder, for
    /// plugins written in Swift (found where this process mapped it).
    static let libraryFolders: [String] = {
        var folders = ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"]
        if let maps = FileIO.readText("/proc/self/maps") {
            for line in maps.split(separator: "\n") where line.hasSuffix("/libswiftCore.so") {
                if let path = line.split(separator: " ", omittingEmptySubsequences: true).last, path.hasPrefix("/") {
                    let folder = String(path[..<path.lastIndex(of: "/")!])
                    if !folders.contains(folder) { folders.append(folder) }
                    break
                }
            }
        }
        return folders
    }()

    static func make(plugin: String, library: String, folder: String, capabilities: CapabilitySet,
                     policy: RuntimePolicy) -> WorkerRuntime.Launch {
        var arguments = ["--library", library, "--plugin-dir", folder]
        // The library itself too: its file may be a link to one kept elsewhere.
        for dir in libraryFolders + [library] { arguments += ["--exec-dir", dir] }
        for held in capabilities.byName.values.sorted(by: { $0.name < $1.name }) {
            if case .files(let root) = held.body {
                arguments += [root.access == .readWrite ? "--write-dir" : "--read-dir", root.path]
            }
        }
        arguments += ["--memory-bytes", "\(policy.memoryBytes)", "--open-files", "\(policy.openFiles)"]
        if policy.cpuSeconds > 0 { arguments += ["--cpu-seconds", "\(policy.cpuSeconds)"] }
        return WorkerRuntime.Launch(executable: executable, arguments: arguments, plugin: plugin, policy: policy)
    }
}
