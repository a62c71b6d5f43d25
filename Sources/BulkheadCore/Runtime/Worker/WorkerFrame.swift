import CBulkhead

/// One frame of the core–worker channel (see bh_worker_protocol.h): a
/// 24-byte header and a payload of fields in the order each op lists.
struct WorkerFrame: Sendable {
    var op: UInt16
    var call: UInt64
    var seq: UInt64
    var payload: [UInt8]

    init(op: bhw_op, call: UInt64 = 0, seq: UInt64 = 0, payload: [UInt8] = []) {
        self.op = UInt16(op.rawValue)
        self.call = call
        self.seq = seq
        self.payload = payload
    }

    init(rawOp: UInt16, call: UInt64, seq: UInt64, payload: [UInt8]) {
        self.op = rawOp
        self.call = call
        self.seq = seq
        self.payload = payload
    }

    static let headerSize = Int(BHW_HEADER_SIZE)
    static let maxLength = Int(BHW_MAX_FRAME)

    /// The frame as it goes on the wire.
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + payload.count)
        var w = FieldWriter(into: out)
        w.u32(UInt32(Self.headerSize - 4 + payload.count))
        w.u16(op)
        w.u16(0)
        w.u64(call)
        w.u64(seq)
        out = w.bytes
        out += payload
        return out
    }
}

/// Appends payload fields, little-endian.
struct FieldWriter {
    private(set) var bytes: [UInt8]

    init(into bytes: [UInt8] = []) { self.bytes = bytes }

    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func status(_ s: bh_status) { u32(UInt32(bitPattern: s.rawValue)) }

    mutating func data(_ v: some Collection<UInt8>) {
        u32(UInt32(v.count))
        bytes += v
    }

    mutating func data(_ v: bh_bytes) {
        guard let p = v.ptr, v.len > 0 else { return u32(0) }
        u32(UInt32(v.len))
        bytes += UnsafeRawBufferPointer(start: p, count: v.len)
    }
}

/// Takes payload fields in order; any field past the end is a protocol error.
struct FieldReader {
    struct Malformed: Error {}

    private let bytes: [UInt8]
    private var at = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { at == bytes.count }

    private mutating func take(_ n: Int) throws(Malformed) -> ArraySlice<UInt8> {
        guard n >= 0, bytes.count - at >= n else { throw Malformed() }
        defer { at += n }
        return bytes[at..<(at + n)]
    }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(Malformed) -> T {
        let slice = try take(MemoryLayout<T>.size)
        var v: T = 0
        for (i, b) in slice.enumerated() { v |= T(b) << (8 * i) }
        return v
    }

    mutating func u32() throws(Malformed) -> UInt32 { try integer(UInt32.self) }
    mutating func u64() throws(Malformed) -> UInt64 { try integer(UInt64.self) }
    mutating func i64() throws(Malformed) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func data() throws(Malformed) -> [UInt8] { Array(try take(Int(try u32()))) }

    /// The last field must end the payload: trailing bytes are an error too.
    func end() throws(Malformed) { if !atEnd { throw Malformed() } }
}
