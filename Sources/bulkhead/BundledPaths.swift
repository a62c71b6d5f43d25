#if canImport(Glibc)
import Glibc
#endif

/// Where the bundled example plugins are: `plugins/` of the checkout the
/// binary was built in (the nearest folder above the executable holding both
/// Package.swift and plugins/), else ./plugins.
enum BundledPaths {
    static func pluginsDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "plugins" }
        var folder = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while let slash = folder.lastIndex(of: "/"), slash != folder.startIndex {
            folder = String(folder[..<slash])
            if access(folder + "/Package.swift", F_OK) == 0 && access(folder + "/plugins", F_OK) == 0 {
                return folder + "/plugins"
            }
        }
        return "plugins"
    }
}
