#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import Crypto
import Foundation

/// The audit trail: one JSON line per tool call — who asked, under which
/// scope, what the gate decided, what came back and why it failed — each line
/// chained to the one before by SHA-256, so that a line changed, removed or
/// inserted later shows (`bulkhead audit verify`). Answers are never held up
/// by the disk: calls hand their record to a writer thread, which writes what
/// has gathered in one write(2) and one fdatasync(2) (group commit).
public final class AuditLog: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var pending: [JSONObject] = []
    private var closing = false
    private var finished = false
    // Owned by the writer thread once it runs.
    private var sequence: Int64
    private var previous: String

    /// The first record's `prev`: 64 zeros.
    static let genesis = String(repeating: "0", count: 64)

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (or creates, mode 0600) the log and continues its chain.
    public init(path: String) throws(OpenError) {
        self.path = path
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        if !dir.isEmpty, !FileIO.isDirectory(dir), !FileIO.makeDirectories(dir) {
            throw OpenError(description: "cannot create the audit log's folder \(dir)")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OpenError(description: "cannot open the audit log \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        let (seq, last) = Self.tail(path)
        sequence = seq
        previous = last
        let t = Thread { [self] in write() }
        t.name = "bh-audit"
        t.start()
    }

    deinit { Glibc.close(fd) }

    /// Queues one record; returns at once.
    public func record(_ fields: JSONObject) {
        condition.lock()
        pending.append(fields)
        condition.signal()
        condition.unlock()
    }

    /// Writes what is queued, syncs, and stops the writer.
    public func close() {
        condition.lock()
        closing = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func write() {
        while true {
            condition.lock()
            while pending.isEmpty && !closing { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let stop = closing && batch.isEmpty
            condition.unlock()
            if stop { break }
            var out: [UInt8] = []
            for fields in batch {
                sequence += 1
                var line: JSONObject = ["seq": .int(sequence)]
                for (k, v) in fields { line[k] = v }
                line["prev"] = .string(previous)
                let body = JSONValue.object(line).serialized()
                let hash = Self.link(previous: previous, body: body)
                previous = hash
                out += body.dropLast()
                out += Array(#","hash":""#.utf8) + Array(hash.utf8) + Array("\"}\n".utf8)
            }
            var offset = 0
            while offset < out.count {
                let n = out[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }  // a full disk loses records rather than answers; verify shows the gap
                offset += n
            }
            fdatasync(fd)
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// hash = SHA-256(prev hash, "\n", the line's JSON without its hash member).
    static func link(previous: String, body: [UInt8]) -> String {
        var h = SHA256()
        h.update(data: Array(previous.utf8) + [10])
        h.update(data: body)
        return h.finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The last record's sequence number and hash, to continue the chain.
    private static func tail(_ path: String) -> (Int64, String) {
        guard let text = FileIO.readText(path, limit: 1 << 30), let last = text.split(separator: "\n").last,
              case .object(let o)? = try? JSONValue.parse(Array(last.utf8)),
              let seq = o["seq"]?.intValue, let hash = o["hash"]?.stringValue
        else { return (0, genesis) }
        return (seq, hash)
    }
}

/// Reading an audit log back: checking its chain, and finding records.
public enum AuditReader {
    public struct Verdict: Sendable {
        public var records: Int
        /// The first line (1-based) that does not follow from the one before, and why.
        public var broken: (line: Int, reason: String)?
    }

    public static func verify(path: String) -> Verdict? {
        guard let text = FileIO.readText(path, limit: 1 << 30) else { return nil }
        var previous = AuditLog.genesis
        var expectedSeq: Int64 = 1
        var count = 0
        let suffixLength = #","hash":""#.utf8.count + 64 + 2
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if raw.isEmpty { continue }
            let bytes = Array(raw.utf8)
            guard bytes.count > suffixLength, case .object(let o)? = try? JSONValue.parse(bytes),
                  let hash = o["hash"]?.stringValue, let seq = o["seq"]?.intValue, let prev = o["prev"]?.stringValue
            else { return Verdict(records: count, broken: (i + 1, "not an audit record")) }
            guard seq == expectedSeq else {
                return Verdict(records: count, broken: (i + 1, "sequence \(seq) where \(expectedSeq) was expected (a record is missing or was inserted)"))
            }
            guard prev == previous else {
                return Verdict(records: count, broken: (i + 1, "its prev does not match the hash of the record before"))
            }
            let body = Array(bytes[..<(bytes.count - suffixLength)]) + [UInt8(ascii: "}")]
            guard AuditLog.link(previous: previous, body: body) == hash else {
                return Verdict(records: count, broken: (i + 1, "its content does not match its hash (the record was changed)"))
            }
            previous = hash
            expectedSeq += 1
            count += 1
        }
        return Verdict(records: count, broken: nil)
    }

    /// Every record, parsed, in order.
    public static func records(path: String) -> [JSONObject]? {
        guard let text = FileIO.readText(path, limit: 1 << 30) else { return nil }
        return text.split(separator: "\n").compactMap { line in
            if case .object(let o)? = try? JSONValue.parse(Array(line.utf8)) { return o }
            return nil
        }
    }
}
