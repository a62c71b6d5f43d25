import BulkheadProtocol

/// A cheap upper bound on the serialized size of arguments, so the size
/// limit costs no allocation for the arguments of nearly every call; only
/// when the bound exceeds the limit are they serialized to be measured exactly.
enum ArgumentSize {
    static func upperBound(_ object: JSONObject) -> Int {
        var n = 2
        for m in object.members { n += m.key.utf8.count * 6 + 4 + upperBound(m.value) }
        return n
    }

    private static func upperBound(_ v: JSONValue) -> Int {
        switch v {
        case .null, .bool: return 5
        case .int, .double: return 32
        case .string(let s): return s.utf8.count * 6 + 2  // every byte escaped as \u00XX at worst
        case .array(let a): return a.reduce(2) { $0 + upperBound($1) + 1 }
        case .object(let o): return upperBound(o)
        }
    }
}
