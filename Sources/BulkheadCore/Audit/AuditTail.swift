#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import Crypto

/// The end of an audit trail: the last whole record (to continue the chain
/// from) and what follows it.
///
/// A crash can stop a write(2) anywhere — a 64 KiB boundary inside a batch,
/// or between a record and its newline. Such a tail is a crash's mark, not
/// tampering: it is always at the very end, and it is never a whole record.
struct AuditTail {
    enum End {
        /// The file ends with a newline (or is empty).
        case clean
        /// The last record is whole but its newline is missing.
        case missingNewline
        /// Bytes after the last newline that are not a whole record.
        case torn([UInt8])
    }

    var sequence: Int64
    var hash: String
    var end: End

    /// How far back the last record is looked for: records are a few hundred
    /// bytes (messages are capped), a batch's torn fragment at most a batch.
    static let window = 4 << 20

    static func read(fd: Int32, size: off_t) -> AuditTail {
        guard size > 0 else { return AuditTail(sequence: 0, hash: AuditLog.genesis, end: .clean) }
        let length = Int(min(off_t(window), size))
        var bytes = [UInt8](repeating: 0, count: length)
        var got = 0
        while got < length {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, length - got, size - off_t(length) + off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        bytes.removeLast(length - got)
        let lastNewline = bytes.lastIndex(of: 10)
        let fragment = Array(bytes[(lastNewline.map { $0 + 1 } ?? 0)...])
        if !fragment.isEmpty, let whole = record(fragment) {
            return AuditTail(sequence: whole.seq, hash: whole.hash, end: .missingNewline)
        }
        // The last record that parses, scanning back from the end of the whole lines.
        var lines = bytes[..<(lastNewline ?? 0)].split(separator: 10, omittingEmptySubsequences: true)
        while let last = lines.popLast() {
            if let r = record(Array(last)) {
                return AuditTail(sequence: r.seq, hash: r.hash, end: fragment.isEmpty ? .clean : .torn(fragment))
            }
        }
        return AuditTail(sequence: 0, hash: AuditLog.genesis, end: fragment.isEmpty ? .clean : .torn(fragment))
    }

    static func record(_ line: [UInt8]) -> (seq: Int64, hash: String)? {
        guard case .object(let o)? = try? JSONValue.parse(line), let seq = o["seq"]?.intValue,
              let hash = o["hash"]?.stringValue, hash.utf8.count == 64 else { return nil }
        return (seq, hash)
    }

    /// Moves a torn fragment out of the trail into a file of its own beside
    /// it, cuts the trail back to its last newline, and returns the record
    /// that says so (its size and SHA-256 stay in the chain either way).
    static func setAside(_ fragment: [UInt8], of path: String, fd: Int32, size: off_t) -> JSONObject? {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let name = "\(path).torn-\(Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000))-\(getpid())"
        var saved = false
        let out = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if out >= 0 {
            saved = fragment.withUnsafeBytes { write(out, $0.baseAddress, $0.count) } == fragment.count && fsync(out) == 0
            close(out)
        }
        guard ftruncate(fd, size - off_t(fragment.count)) == 0 else { return nil }
        fsync(fd)
        var fields: JSONObject = [
            "event": "torn_tail_recovered",
            "fragment_bytes": .int(Int64(fragment.count)),
            "fragment_sha256": .string(Hex.encode(SHA256.hash(data: fragment))),
        ]
        if saved { fields["fragment_file"] = .string(FileIO.basename(name)) }
        return fields
    }
}
