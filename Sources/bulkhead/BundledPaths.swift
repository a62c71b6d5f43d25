#if canImport(Glibc)
import Glibc
#endif

/// Where the bundled example plugins are: `plugins/` of the checkout the
/// binary was built in (.build/<config>/bulkhead → ../../plugins), else ./plugins.
enum BundledPaths {
    static func pluginsDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var parts = exe.split(separator: "/", omittingEmptySubsequences: false)
            // Drop "bulkhead", the config folder and ".build".
            if parts.count > 3 {
                parts.removeLast(3)
                let candidate = parts.joined(separator: "/") + "/plugins"
                if access(candidate, F_OK) == 0 { return candidate }
            }
        }
        return "plugins"
    }
}
