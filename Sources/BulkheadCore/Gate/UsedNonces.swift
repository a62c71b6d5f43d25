#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// The nonces of consent requestStates already redeemed, each kept until its
/// state expires, so that a state runs its write once.
///
/// In memory, single use holds within one process. With a folder
/// (`[consent] state_dir`), it holds across every process that shares the
/// folder and the key — servers restarted, or several behind a load balancer
/// on a shared disk: each redemption is appended to `used-nonces` and synced
/// before the write runs.
///
/// Across processes the check and the append are one step under an exclusive
/// `flock` of `used-nonces.lock` (a file never replaced, so every process locks
/// the same one); each process reads only what others appended since it last
/// looked. At start, expired records are dropped by writing the rest to a new
/// file renamed over the old; a process that still has the old one open sees
/// the inode change under the lock and reads the new one from the start.
public final class UsedNonces: Sendable {
    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    enum Claim: Equatable {
        case fresh
        case used
        /// Could not be recorded: the caller must not run the write.
        case failed(String)
    }

    static let fileName = "used-nonces"
    static let lockName = "used-nonces.lock"
    /// 32 hex digits of nonce, a space, 16 hex digits of expiry (ms since the epoch), a newline:
    /// fixed length, so a torn record (a crash mid-write) is recognised and skipped.
    static let recordLength = 50
    /// Records outlive their state by this much, so that a server whose clock runs
    /// behind another's cannot redeem a state the other has already forgotten.
    static let keptPastExpiry: Int64 = 5 * 60_000

    private struct State: ~Copyable {
        var seen: [String: Int64] = [:]
        var data: Int32 = -1
        var dataIdentity: FileIdentity?
        /// Bytes of the data file read so far (always at a record boundary).
        var offset = 0
        /// The file ends in a torn record: the next append starts on a new line.
        var endsMidRecord = false
        var claimsSincePrune = 0
    }

    private struct FileIdentity: Equatable {
        let device: UInt64
        let inode: UInt64
    }

    /// Nil when the nonces are kept in memory only.
    public let directory: String?
    private let lockFD: Int32
    private let state: Mutex<State>
    /// Where a failure to record is explained: to the operator, not to the client.
    private let logger: Logger?

    /// Kept in memory: single use holds within this process only.
    public init() {
        directory = nil
        lockFD = -1
        state = Mutex(State())
        logger = nil
    }

    /// Opens (creating, mode 0700/0600) the folder's nonce file, dropping expired records.
    public convenience init(directory: String, logger: Logger? = nil) throws(OpenError) {
        try self.init(directory: directory, now: ConsentGate.nowMilliseconds(), logger: logger)
    }

    init(directory: String, now: Int64, logger: Logger? = nil) throws(OpenError) {
        guard FileIO.isDirectory(directory) || FileIO.makeDirectories(directory) else {
            throw OpenError(description: "cannot create the consent state folder \(directory)")
        }
        let lockPath = FileIO.join(directory, UsedNonces.lockName)
        let lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else {
            throw OpenError(description: "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        let path = FileIO.join(directory, UsedNonces.fileName)
        var s = State()
        let problem: String? = UsedNonces.locked(lockFD) {
            guard UsedNonces.reopenIfReplaced(&s, path: path) else { return "cannot open \(path): \(UsedNonces.lastError())" }
            let (records, lines) = UsedNonces.readNew(&s, now: now)
            // Rewritten only when something is dropped, so an idle start costs one read.
            if records.count < lines || s.endsMidRecord {
                if let why = UsedNonces.rewrite(records, path: path, directory: directory) { return why }
                s.seen = [:]
                guard UsedNonces.reopenIfReplaced(&s, path: path) else { return "cannot open \(path): \(UsedNonces.lastError())" }
                _ = UsedNonces.readNew(&s, now: now)
            }
            UsedNonces.syncDirectory(directory)
            return nil
        } ?? "cannot lock \(lockPath): \(UsedNonces.lastError())"
        if let problem {
            if s.data >= 0 { close(s.data) }
            close(lockFD)
            throw OpenError(description: problem)
        }
        self.directory = directory
        self.lockFD = lockFD
        self.state = Mutex(s)
        self.logger = logger
    }

    deinit {
        state.withLock { s in
            if s.data >= 0 { close(s.data) }
        }
        if lockFD >= 0 { close(lockFD) }
    }

    /// Records `nonce` as used until `expiry`, unless it already was.
    func claim(_ nonce: String, expiry: Int64, now: Int64) -> Claim {
        let claim = recordOnce(nonce, expiry: expiry, now: now)
        if case .failed(let why) = claim { logger?.error("consent: a requestState was refused because its use could not be recorded: \(why)") }
        return claim
    }

    private func recordOnce(_ nonce: String, expiry: Int64, now: Int64) -> Claim {
        state.withLock { s in
            s.claimsSincePrune += 1
            if s.claimsSincePrune >= 1024 {
                s.seen = s.seen.filter { $0.value + Self.keptPastExpiry > now }
                s.claimsSincePrune = 0
            }
            guard let directory else {
                guard s.seen[nonce] == nil else { return .used }
                s.seen[nonce] = expiry
                return .fresh
            }
            let path = FileIO.join(directory, Self.fileName)
            return Self.locked(lockFD) { () -> Claim in
                guard Self.reopenIfReplaced(&s, path: path) else { return .failed("cannot open \(path): \(Self.lastError())") }
                _ = Self.readNew(&s, now: now)
                guard s.seen[nonce] == nil else { return .used }
                var record = s.endsMidRecord ? "\n" : ""
                record += Self.record(nonce: nonce, expiry: expiry)
                guard Self.writeAll(s.data, Array(record.utf8)), fsync(s.data) == 0 else {
                    return .failed("cannot record it in \(path): \(Self.lastError())")
                }
                // We hold the lock: nobody else appended, so the file now ends after our record.
                var st = stat()
                s.offset = fstat(s.data, &st) == 0 ? Int(st.st_size) : s.offset
                s.endsMidRecord = false
                s.seen[nonce] = expiry
                return .fresh
            } ?? .failed("cannot lock \(FileIO.join(directory, Self.lockName)): \(Self.lastError())")
        }
    }

    // MARK: - The file

    static func record(nonce: String, expiry: Int64) -> String {
        let hex = String(UInt64(bitPattern: expiry), radix: 16)
        return nonce + " " + String(repeating: "0", count: max(0, 16 - hex.count)) + hex + "\n"
    }

    /// Nil when the lock could not be taken.
    private static func locked<T>(_ fd: Int32, _ body: () -> T) -> T? {
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { return nil }
        }
        defer { _ = flock(fd, LOCK_UN) }
        return body()
    }

    /// Opens the data file afresh when it was never opened or was replaced by another process's prune.
    private static func reopenIfReplaced(_ s: inout State, path: String) -> Bool {
        var st = stat()
        if s.data >= 0, stat(path, &st) == 0, FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) == s.dataIdentity {
            return true
        }
        if s.data >= 0 { close(s.data) }
        s.data = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard s.data >= 0, fstat(s.data, &st) == 0 else { return false }
        s.dataIdentity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        s.offset = 0
        s.endsMidRecord = false
        return true
    }

    /// Reads what was appended since the last read. Returns the unexpired records
    /// read and how many lines there were (torn ones included), for the prune at start.
    private static func readNew(_ s: inout State, now: Int64) -> (records: [(String, Int64)], lines: Int) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let at = s.offset + bytes.count
            let n = chunk.withUnsafeMutableBytes { pread(s.data, $0.baseAddress, $0.count, off_t(at)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        guard let lastNewline = bytes.lastIndex(of: 10) else {
            s.endsMidRecord = !bytes.isEmpty
            return ([], 0)
        }
        var records: [(String, Int64)] = []
        var lines = 0
        for line in bytes[...lastNewline].split(separator: 10, omittingEmptySubsequences: false).dropLast() {
            lines += 1
            guard let (nonce, expiry) = parse(line), expiry + keptPastExpiry > now else { continue }
            s.seen[nonce] = expiry
            records.append((nonce, expiry))
        }
        s.offset += lastNewline + 1
        s.endsMidRecord = lastNewline + 1 < bytes.count
        return (records, lines)
    }

    private static func parse(_ line: ArraySlice<UInt8>) -> (String, Int64)? {
        guard line.count == recordLength - 1 else { return nil }
        let nonce = line.prefix(32), space = line[line.startIndex + 32], expiry = line.suffix(16)
        guard space == UInt8(ascii: " "), nonce.allSatisfy(isLowerHex), expiry.allSatisfy(isLowerHex),
              let value = UInt64(String(decoding: expiry, as: UTF8.self), radix: 16)
        else { return nil }
        return (String(decoding: nonce, as: UTF8.self), Int64(bitPattern: value))
    }

    static func isLowerHex(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f"))
    }

    /// Replaces the file with only `records`, atomically: a crash leaves the old file or the new one.
    private static func rewrite(_ records: [(String, Int64)], path: String, directory: String) -> String? {
        let temporary = path + ".new"  // only ever written under the lock
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot create \(temporary): \(lastError())" }
        let text = records.map { record(nonce: $0.0, expiry: $0.1) }.joined()
        let ok = writeAll(fd, Array(text.utf8)) && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            return "cannot rewrite \(path): \(lastError())"
        }
        return nil
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// So that the file's creation or replacement survives a crash too.
    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
