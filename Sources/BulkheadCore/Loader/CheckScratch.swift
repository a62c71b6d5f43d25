#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What `bulkhead check` gives a plugin's init instead of its read-write
/// roots: a new empty temporary folder each, removed when the check is done.
/// So a check writes nothing where serve would (the tickets plugin would
/// otherwise create its data folder and database), yet the init still runs
/// as it does on a first start. Read-only roots stay the real ones: the core
/// never writes through them.
final class CheckScratch: Sendable {
    private struct State {
        var folders: [String] = []
        var notes: [String] = []
    }
    private let state = Mutex(State())

    /// What the check noticed about the roots it stood in for.
    var notes: [String] { state.withLock { $0.notes } }

    /// A temporary folder for the read-write root at `path`, after checking
    /// what serve's opening of it would find; the failure says why serve
    /// could not use `path`.
    func standIn(for path: String, capability: String) -> Result<String, CheckFailure> {
        if FileIO.exists(path) {
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return .failure(CheckFailure("cannot open \(path): \(FileIO.lastErrorText())")) }
            close(fd)
            if access(path, W_OK) != 0 {
                note("capability '\(capability)': \(path) is not writable for this user, so the plugin could not write there")
            }
        } else {
            // Serve makes the missing folders with their parents: the nearest one that exists must be writable.
            var ancestor = path
            while !FileIO.exists(ancestor) {
                guard let slash = ancestor.lastIndex(of: "/") else {
                    ancestor = "."
                    break
                }
                ancestor = slash == ancestor.startIndex ? "/" : String(ancestor[..<slash])
            }
            guard FileIO.isDirectory(ancestor), access(ancestor, W_OK) == 0 else {
                return .failure(CheckFailure("cannot create \(path): \(ancestor) is not a writable directory"))
            }
            note("capability '\(capability)': serve would create \(path); check did not")
        }
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array(FileIO.join(base, "bulkhead-check-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            return .failure(CheckFailure("check could not make a temporary folder in \(base): \(FileIO.lastErrorText())"))
        }
        let folder = String(cString: made)
        state.withLock { $0.folders.append(folder) }
        return .success(folder)
    }

    /// Removes every stand-in; call after the plugin's destroy.
    func removeAll() {
        let folders = state.withLock { s in
            defer { s.folders = [] }
            return s.folders
        }
        for folder in folders { FileIO.removeTree(folder) }
    }

    private func note(_ text: String) { state.withLock { $0.notes.append(text) } }
}

struct CheckFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
