#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import Crypto
import Metrics
import Foundation

/// The audit trail: one JSON line per tool call — who asked, under which
/// scope, what the gate decided, what came back and why it failed — each line
/// chained to the one before by SHA-256, so that a line changed, removed or
/// inserted later shows (`bulkhead audit verify`).
///
/// Nothing answered is unaudited: a call hands its record together with the
/// code that sends its answer, and that code runs only after the batch holding
/// the record was written and synced. One writer thread takes whatever has
/// gathered while the previous batch was syncing and commits it with one
/// write(2) and one fdatasync(2) (group commit), so the disk's latency is paid
/// once per batch, not once per call.
///
/// Several server processes may share one trail (every stdio client starts its
/// own server): each batch is committed under an exclusive flock(2) on the
/// file, and a writer that finds the file grown by someone else reads the last
/// record again and continues the chain from it. A torn tail — a crash in the
/// middle of a write — is found the same way: the fragment is moved aside to a
/// file of its own, the trail is cut back to its last whole record, and a
/// `torn_tail_recovered` record with the fragment's size and SHA-256 continues
/// the chain.
public final class AuditLog: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let condition = NSCondition()
    private struct Pending {
        /// The record's own members, serialized by the caller: `"k":v,...` without braces.
        var members: [UInt8]
        var then: (@Sendable () -> Void)?

        init(_ fields: JSONObject, then: (@Sendable () -> Void)?) {
            var fields = fields
            if fields["time"] == nil { fields["time"] = .string(CallRecord.timestamp()) }
            let object = JSONValue.object(fields).serialized()
            members = Array(object[1..<(object.count - 1)])
            self.then = then
        }
    }
    // Guarded by `condition`.
    private var pending: [Pending] = []
    private var writeFailures = 0
    private var lastWriteFailed = false
    private let failureCounter = Counter(label: "bulkhead_audit_write_errors_total")
    private let queueGauge = Gauge(label: "bulkhead_audit_queue_depth")
    private var closing = false
    private var finished = false
    // Owned by the writer thread.
    private var sequence: Int64 = 0
    private var previous = AuditLog.genesis
    /// The file's size after our last commit; when it differs, another process wrote (or a crash tore).
    private var knownEnd: off_t = -1
    /// Which process and start every record comes from, serialized once: `"pid":n,"process_start":"…"`.
    private let origin: [UInt8]

    /// The first record's `prev`: 64 zeros.
    static let genesis = String(repeating: "0", count: 64)

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (or creates, mode 0600) the trail, recovers a torn tail, and
    /// writes a `start` record before any call can be answered.
    public init(path: String, server: String) throws(OpenError) {
        self.path = path
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        if !dir.isEmpty, !FileIO.isDirectory(dir), !FileIO.makeDirectories(dir) {
            throw OpenError(description: "cannot create the audit log's folder \(dir)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OpenError(description: "cannot open the audit log \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        let origin = JSONValue.object(["pid": .int(Int64(getpid())), "process_start": .string(CallRecord.timestamp())]).serialized()
        self.origin = Array(origin[1..<(origin.count - 1)])
        // Synchronously, so that a trail that cannot be written fails the start, not the first call.
        guard commit([Pending(["event": "start", "server": .string(server)], then: nil)]) else {
            Glibc.close(fd)
            throw OpenError(description: "cannot write the audit log \(path): \(String(cString: strerror(errno)))")
        }
        let t = Thread { [self] in writeLoop() }
        t.name = "bh-audit"
        t.start()
    }

    deinit { Glibc.close(fd) }

    /// Queues one record; returns at once. `then` runs on the writer thread
    /// once the record is on disk: that is where a call's answer is sent.
    /// The record is serialized here, on the caller's thread, so that the one
    /// writer thread only chains, hashes and writes. `fields` must not use the
    /// members the trail adds: seq, pid, process_start, prev, hash.
    public func record(_ fields: JSONObject, then: (@Sendable () -> Void)? = nil) {
        let item = Pending(fields, then: then)
        condition.lock()
        if finished {
            // After close nothing more is written; the answer still goes out.
            condition.unlock()
            then?()
            return
        }
        pending.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Records waiting for the writer, batches that failed to be written since
    /// start, and whether the last one did (`/readyz` and `/metrics`).
    public var health: (queued: Int, writeFailures: Int, lastWriteFailed: Bool) {
        condition.lock()
        defer { condition.unlock() }
        return (pending.count, writeFailures, lastWriteFailed)
    }

    /// Writes what is queued and a `stop` record, syncs, and stops the writer.
    public func close() {
        record(["event": "stop"])
        condition.lock()
        closing = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func writeLoop() {
        while true {
            condition.lock()
            while pending.isEmpty && !closing { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let stop = closing && batch.isEmpty
            if stop { finished = true }
            condition.unlock()
            if stop { break }
            // A trail that cannot be written loses records, never answers: the
            // error is the operator's to see (verify shows the gap).
            queueGauge.record(batch.count)
            let ok = commit(batch)
            if !ok { failureCounter.increment() }
            condition.lock()
            if !ok { writeFailures += 1 }
            lastWriteFailed = !ok
            condition.unlock()
            for item in batch { item.then?() }
        }
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// One batch: lock, catch up with the file, append, sync, unlock.
    private func commit(_ batch: [Pending]) -> Bool {
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        defer { flock(fd, LOCK_UN) }
        var st = stat()
        fstat(fd, &st)
        var out: [UInt8] = []
        if st.st_size != knownEnd {
            let tail = AuditTail.read(fd: fd, size: st.st_size)
            sequence = tail.sequence
            previous = tail.hash
            switch tail.end {
            case .clean:
                break
            case .missingNewline:
                // The last record is whole; only its newline was lost.
                out.append(10)
            case .torn(let fragment):
                if let recovery = AuditTail.setAside(fragment, of: path, fd: fd, size: st.st_size) {
                    append(Pending(recovery, then: nil), to: &out)
                }
            }
        }
        for item in batch { append(item, to: &out) }
        var offset = 0
        var ok = true
        while offset < out.count {
            let n = out[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false; break }
            offset += n
        }
        if fdatasync(fd) != 0 { ok = false }
        knownEnd = ok ? lseek(fd, 0, SEEK_END) : -1
        return ok
    }

    /// Appends one record as the next link of the chain:
    /// `{"seq":n,<members>,<origin>,"prev":"…","hash":"…"}` and a newline.
    private func append(_ item: Pending, to out: inout [UInt8]) {
        sequence += 1
        let start = out.count
        out += Self.seqKey
        JSONValue.int(sequence).serialize(into: &out)
        out.append(UInt8(ascii: ","))
        out += item.members
        out.append(UInt8(ascii: ","))
        out += origin
        out += Self.prevKey
        out += previous.utf8
        out += Self.bodyEnd
        let hash = out[start...].withUnsafeBytes { Self.link(previous: previous, body: $0) }
        previous = hash
        out.removeLast()  // the body's closing brace; the hash member goes before it
        out += Self.hashKey
        out += hash.utf8
        out += Self.lineEnd
    }

    private static let seqKey = Array(#"{"seq":"#.utf8)
    private static let prevKey = Array(#","prev":""#.utf8)
    private static let bodyEnd = Array(#""}"#.utf8)
    private static let hashKey = Array(#","hash":""#.utf8)
    private static let lineEnd = Array("\"}\n".utf8)

    /// hash = SHA-256(prev hash, "\n", the line's JSON without its hash member).
    static func link<Body: DataProtocol>(previous: String, body: Body) -> String {
        var h = SHA256()
        h.update(data: Array(previous.utf8) + [10])
        h.update(data: body)
        return Hex.encode(h.finalize())
    }
}

/// Lower-case hexadecimal.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
