#if canImport(Glibc)
import Glibc
#endif

/// A real temporary directory, removed when the test ends.
final class TempDir {
    let path: String

    init() throws {
        var template = Array("/tmp/bulkhead-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure() }
        path = String(cString: p)
    }

    deinit { _ = run("/bin/rm", ["-rf", path]) }

    struct Failure: Error {}

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let full = path + "/" + name
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(full)")
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return full
    }

    func mkdir(_ name: String) -> String {
        let full = path + "/" + name
        _ = Glibc.mkdir(full, 0o755)
        return full
    }
}

/// Runs a program and returns its exit status.
@discardableResult
func run(_ program: String, _ args: [String]) -> Int32 {
    var pid: pid_t = 0
    let argv = ([program] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    guard posix_spawn(&pid, program, nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}
