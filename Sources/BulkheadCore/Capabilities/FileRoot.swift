#if canImport(Glibc)
import Glibc
#endif
import CBulkhead

/// A granted folder. Every path a plugin names is resolved by the kernel
/// relative to a descriptor of the root, with openat2's RESOLVE_BENEATH: an
/// absolute path, a ".." that climbs out, or a symbolic link that leads out
/// fails in the kernel, whatever the path looks like. Nothing here compares
/// path strings to decide what is inside.
///
/// What RESOLVE_BENEATH cannot see is a hard link: another name for a file
/// that may live outside the root, planted inside it by whoever could write
/// there. A regular file with more than one link is therefore neither opened
/// nor described unless the grant says `allow_hard_links = true`; the count
/// is read with fstat on the descriptor already opened, so no swap between
/// check and use is possible.
final class FileRoot: Sendable {
    let path: String
    let access: FileAccess
    let allowHardLinks: Bool
    private let fd: Int32

    enum Failure: Error {
        case notAllowed(String)
        case notFound
        case exists
        case invalid(String)
        case io(String)
    }

    /// Opens the root; a read-write root that does not exist yet is created (with its parents).
    static func open(path: String, access: FileAccess, allowHardLinks: Bool = false) -> Result<FileRoot, Failure> {
        if access == .readWrite && !FileIO.exists(path) {
            guard FileIO.makeDirectories(path) else {
                return .failure(.io("cannot create \(path): \(String(cString: strerror(errno)))"))
            }
        }
        let fd = Glibc.open(path, Int32(BH_SHIM_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            return .failure(errno == ENOENT ? .notFound : .io("cannot open \(path): \(String(cString: strerror(errno)))"))
        }
        return .success(FileRoot(path: FileIO.absolute(path), access: access, allowHardLinks: allowHardLinks, fd: fd))
    }

    private init(path: String, access: FileAccess, allowHardLinks: Bool, fd: Int32) {
        self.path = path
        self.access = access
        self.allowHardLinks = allowHardLinks
        self.fd = fd
        self.pathCopy = strdup(path)
    }

    deinit {
        close(fd)
        free(pathCopy)
    }

    // A C copy of `path`, lent to the plugin by root_path for the root's lifetime.
    private nonisolated(unsafe) let pathCopy: UnsafeMutablePointer<CChar>?
    var lentPath: bh_bytes { bh_bytes(ptr: pathCopy.map { UnsafePointer($0) }, len: path.utf8.count) }

    /// The longest relative path a host function accepts, in bytes: PATH_MAX less its NUL.
    static let longestPath = 4095

    // MARK: Operations

    func open(_ relative: String, flags: UInt32) -> Result<Int32, Failure> {
        let known = UInt32(BH_FILE_READ | BH_FILE_WRITE | BH_FILE_CREATE | BH_FILE_TRUNCATE | BH_FILE_APPEND | BH_FILE_EXCLUSIVE)
        guard flags & ~known == 0 else { return .failure(.invalid("unknown flags 0x\(String(flags & ~known, radix: 16))")) }
        let read = flags & UInt32(BH_FILE_READ) != 0
        let write = flags & UInt32(BH_FILE_WRITE) != 0
        guard read || write else { return .failure(.invalid("neither BH_FILE_READ nor BH_FILE_WRITE")) }
        let changes = UInt32(BH_FILE_WRITE | BH_FILE_CREATE | BH_FILE_TRUNCATE | BH_FILE_APPEND)
        if flags & changes != 0 && access == .read { return .failure(.notAllowed("the root is read-only")) }
        // TRUNCATE is done with ftruncate once the file is known to be the
        // root's: O_TRUNC would empty a hard-linked file before it is refused.
        // ftruncate needs a writable descriptor, so READ|TRUNCATE opens
        // read-write (its root is read-write, or it was refused above).
        let truncate = flags & UInt32(BH_FILE_TRUNCATE) != 0
        let writable = write || truncate
        var o: Int32 = read && writable ? O_RDWR : (writable ? O_WRONLY : O_RDONLY)
        if flags & UInt32(BH_FILE_CREATE) != 0 { o |= O_CREAT }
        if flags & UInt32(BH_FILE_APPEND) != 0 { o |= O_APPEND }
        if flags & UInt32(BH_FILE_EXCLUSIVE) != 0 { o |= O_EXCL }
        // O_NONBLOCK so that opening a FIFO cannot hang the call; cleared below.
        let opened = resolve(relative, flags: o | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode: 0o600)
        guard case .success(let file) = opened else { return opened }
        // Only regular files: a directory descriptor would let openat() walk out
        // of the root without RESOLVE_BENEATH, and devices are not data.
        var st = stat()
        guard fstat(file, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(file)
            return .failure(.invalid("not a regular file"))
        }
        if let refusal = hardLinkRefusal(st) {
            close(file)
            return .failure(refusal)
        }
        if truncate && ftruncate(file, 0) != 0 {
            let why = errnoText()
            close(file)
            return .failure(.io(why))
        }
        _ = fcntl(file, F_SETFL, fcntl(file, F_GETFL) & ~O_NONBLOCK)
        return .success(file)
    }

    /// A file's size and times are its data too: a hard-linked one is
    /// described only where it could be opened.
    func info(_ relative: String) -> Result<stat, Failure> {
        let opened = resolve(relative, flags: Int32(BH_SHIM_O_PATH) | O_CLOEXEC, mode: 0)
        guard case .success(let file) = opened else { return opened.map { _ in Glibc.stat() } }
        defer { close(file) }
        var st = Glibc.stat()
        guard fstat(file, &st) == 0 else { return .failure(.io(errnoText())) }
        if let refusal = hardLinkRefusal(st) { return .failure(refusal) }
        return .success(st)
    }

    /// Why a file with other names is refused, or nil. Directories cannot be
    /// hard-linked (their link count is their subdirectories), so only
    /// regular files are counted.
    private func hardLinkRefusal(_ st: stat) -> Failure? {
        guard !allowHardLinks, st.st_mode & S_IFMT == S_IFREG, st.st_nlink > 1 else { return nil }
        return .notAllowed("the file has \(st.st_nlink) hard links, and a hard link can reach a file outside the root; "
            + "the grant does not allow hard links (allow_hard_links = true in policy.toml would)")
    }

    /// Calls `body` for each entry (without following links) until it returns
    /// false. A hard-linked file the grant does not allow is still listed (its
    /// name is the root's, and the plugin may need to remove it) but with
    /// size and times zeroed, as file_stat would refuse them.
    func list(_ relative: String, _ body: (String, stat) -> Bool) -> Result<Void, Failure> {
        let opened = resolve(relative, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, mode: 0)
        guard case .success(let dirFD) = opened else {
            if case .failure(.io(let why)) = opened, why.contains("Not a directory") { return .failure(.invalid("not a directory")) }
            return opened.map { _ in () }
        }
        guard let dir = fdopendir(dirFD) else {
            close(dirFD)
            return .failure(.io(errnoText()))
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            // The ABI promises UTF-8 names, so an entry whose name is not is
            // skipped rather than handed over repaired (a repaired name would
            // not open, and could collide with a real one).
            let name: String? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(validating: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let name, name != ".", name != ".." else { continue }
            var st = Glibc.stat()
            guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if hardLinkRefusal(st) != nil {
                st.st_size = 0
                st.st_mtim = timespec()
            }
            if !body(name, st) { break }
        }
        return .success(())
    }

    func makeDirectory(_ relative: String) -> Result<Void, Failure> {
        withParent(relative, writing: true) { parent, name in
            mkdirat(parent, name, 0o700) == 0 ? .success(()) : .failure(Self.failure(errno))
        }
    }

    func remove(_ relative: String) -> Result<Void, Failure> {
        withParent(relative, writing: true) { parent, name in
            if unlinkat(parent, name, 0) == 0 { return .success(()) }
            if errno == EISDIR, unlinkat(parent, name, AT_REMOVEDIR) == 0 { return .success(()) }
            if errno == ENOTEMPTY || errno == EEXIST { return .failure(.invalid("the directory is not empty")) }
            return .failure(Self.failure(errno))
        }
    }

    func rename(_ from: String, to: String) -> Result<Void, Failure> {
        withParent(from, writing: true) { fromParent, fromName in
            withParent(to, writing: true) { toParent, toName in
                renameat(fromParent, fromName, toParent, toName) == 0 ? .success(()) : .failure(Self.failure(errno))
            }
        }
    }

    // MARK: Resolution

    /// Opens `relative` beneath the root. The kernel does the refusing.
    private func resolve(_ relative: String, flags: Int32, mode: UInt32) -> Result<Int32, Failure> {
        if let problem = Self.check(relative) { return .failure(problem) }
        let path = relative.isEmpty ? "." : relative
        let file = bh_shim_openat_beneath(fd, path, flags, mode)
        return file >= 0 ? .success(file) : .failure(Self.failure(errno))
    }

    /// Runs `body` with a descriptor of the path's parent directory (resolved
    /// beneath the root) and its last component, which must name an entry:
    /// not empty, ".", or "..". The last component is not followed, which is
    /// what rename, unlink and mkdir need.
    private func withParent<T>(_ relative: String, writing: Bool,
                               _ body: (Int32, String) -> Result<T, Failure>) -> Result<T, Failure> {
        if writing && access == .read { return .failure(.notAllowed("the root is read-only")) }
        if let problem = Self.check(relative) { return .failure(problem) }
        var trimmed = Substring(relative)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        let name = String(parts.last ?? "")
        guard !name.isEmpty, name != ".", name != ".." else {
            return .failure(.invalid("'\(relative)' does not name an entry inside the root"))
        }
        let parentPath = parts.count > 1 ? parts.dropLast().joined(separator: "/") : "."
        let parent = bh_shim_openat_beneath(fd, parentPath.isEmpty ? "." : parentPath, Int32(BH_SHIM_O_PATH) | O_DIRECTORY | O_CLOEXEC, 0)
        guard parent >= 0 else { return .failure(Self.failure(errno)) }
        defer { close(parent) }
        return body(parent, name)
    }

    private static func check(_ relative: String) -> Failure? {
        if relative.utf8.contains(0) { return .invalid("the path contains a NUL byte") }
        if relative.hasPrefix("/") { return .notAllowed("absolute paths are refused; name a path relative to the root") }
        return nil
    }

    private static func failure(_ e: Int32) -> Failure {
        switch e {
        case EXDEV: .notAllowed("the path leads out of the root")
        case ELOOP: .notAllowed("the path ends in a symbolic link loop or a link the root refuses")
        case ENOENT: .notFound
        case EEXIST: .exists
        case ENOTDIR: .io("Not a directory")
        case ENOSYS: .io("openat2 is not available on this kernel (Linux 5.6 or later is needed)")
        default: .io(String(cString: strerror(e)))
        }
    }

    private func errnoText() -> String { String(cString: strerror(errno)) }
}
