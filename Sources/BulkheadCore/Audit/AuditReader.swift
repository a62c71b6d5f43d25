import BulkheadProtocol

/// Reading an audit trail back: checking its chain, and finding records.
public enum AuditReader {
    public struct Verdict: Sendable {
        public var records: Int
        /// The first line (1-based) that does not follow from the one before, and why:
        /// a record changed, removed or inserted.
        public var broken: (line: Int, reason: String)?
        /// A crash's mark at the very end: bytes after the last record that are not a
        /// whole record (the server sets them aside when it next starts).
        public var tornTail: (line: Int, bytes: Int)?
        /// Torn tails an earlier start already set aside (`torn_tail_recovered` records).
        public var recovered: Int
    }

    private static let suffixLength = #","hash":""#.utf8.count + 64 + 2

    public static func verify(path: String) -> Verdict? {
        guard let text = FileIO.readText(path, limit: 1 << 30) else { return nil }
        var verdict = Verdict(records: 0, broken: nil, tornTail: nil, recovered: 0)
        var previous = AuditLog.genesis
        var expectedSeq: Int64 = 1
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, raw) in lines.enumerated() {
            if raw.isEmpty { continue }
            let bytes = Array(raw.utf8)
            let isLast = i == lines.count - 1  // no newline after it
            guard bytes.count > suffixLength, case .object(let o)? = try? JSONValue.parse(bytes),
                  let hash = o["hash"]?.stringValue, let seq = o["seq"]?.intValue, let prev = o["prev"]?.stringValue
            else {
                if isLast {
                    verdict.tornTail = (i + 1, bytes.count)
                } else {
                    verdict.broken = (i + 1, "not an audit record")
                }
                return verdict
            }
            guard seq == expectedSeq else {
                verdict.broken = (i + 1, "sequence \(seq) where \(expectedSeq) was expected (a record is missing or was inserted)")
                return verdict
            }
            guard prev == previous else {
                verdict.broken = (i + 1, "its prev does not match the hash of the record before")
                return verdict
            }
            let body = Array(bytes[..<(bytes.count - suffixLength)]) + [UInt8(ascii: "}")]
            guard AuditLog.link(previous: previous, body: body) == hash else {
                verdict.broken = (i + 1, "its content does not match its hash (the record was changed)")
                return verdict
            }
            if o["event"]?.stringValue == "torn_tail_recovered" { verdict.recovered += 1 }
            previous = hash
            expectedSeq += 1
            verdict.records += 1
        }
        return verdict
    }

    /// Every whole record, parsed, in order.
    public static func records(path: String) -> [JSONObject]? {
        guard let text = FileIO.readText(path, limit: 1 << 30) else { return nil }
        return text.split(separator: "\n").compactMap { line in
            if case .object(let o)? = try? JSONValue.parse(Array(line.utf8)), o["seq"] != nil { return o }
            return nil
        }
    }
}
