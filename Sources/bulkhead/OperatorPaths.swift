#if canImport(Glibc)
import Glibc
#endif
import BulkheadCore

/// The server configuration and plugins directory the operator named, or what is wrong with them.
enum OperatorPaths {
    /// What is wrong with `--config path`, in the words of one line, or the configuration.
    static func loadConfig(_ path: String) -> Result<ServerConfig, ConfigProblem> {
        var st = stat()
        guard stat(path, &st) == 0 else {
            return .failure(ConfigProblem(errno == ENOENT ? "no such file" : String(cString: strerror(errno))))
        }
        guard (st.st_mode & S_IFMT) != S_IFDIR else { return .failure(ConfigProblem("is a directory, not a file")) }
        do {
            return .success(try ServerConfig.load(path: path))
        } catch {
            // Each problem names the file; the line names it once, first.
            let prefix = path + ": "
            return .failure(ConfigProblem(error.problems.map { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : $0 }
                .joined(separator: "; ")))
        }
    }

    struct ConfigProblem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// The principals a configuration defines, for messages.
    static func principalNames(_ config: ServerConfig) -> String {
        config.principals.keys.map(\.string).sorted().joined(separator: ", ")
    }
}
