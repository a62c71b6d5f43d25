/// A JSON value. Objects keep their members in the order they were written,
/// so what the server sends is deterministic and what a plugin wrote reads back unchanged.
///
/// Written by hand rather than taken from Foundation: `JSONSerialization` yields
/// untyped `Any` (bools and numbers indistinguishable on Linux) and `JSONDecoder`
/// needs a static type per message; the protocol layer needs a typed value it can
/// parse from raw bytes and write back in a few microseconds.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON object with members in insertion order. Keys are unique: setting an
/// existing key replaces its value in place. Keys are compared code point by
/// code point (``String/isExactly(_:)``): keys that differ only by Unicode
/// normalization are different keys, as every standard JSON parser keeps them.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var members: [(key: String, value: JSONValue)]

    public init() { members = [] }

    public init(_ members: [(String, JSONValue)]) {
        self.members = []
        self.members.reserveCapacity(members.count)
        for (k, v) in members { self[k] = v }
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    public subscript(key: String) -> JSONValue? {
        get {
            for m in members where m.key.isExactly(key) { return m.value }
            return nil
        }
        set {
            if let i = members.firstIndex(where: { $0.key.isExactly(key) }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    /// Builds an object from members as a parser read them, in one pass.
    ///
    /// A repeated key keeps its first position and takes the last value, which is
    /// what assigning the members one by one through the subscript would give, but
    /// without the quadratic search for large objects.
    init(parsedMembers: [(key: String, value: JSONValue)]) {
        let n = parsedMembers.count
        if n < 2 {
            members = parsedMembers
            return
        }
        var hasDuplicates = false
        if n <= 12 {
            // Small objects (nearly every JSON-RPC envelope): a few string comparisons
            // beat hashing every key.
            search: for i in 1..<n {
                let key = parsedMembers[i].key
                for j in 0..<i where parsedMembers[j].key.isExactly(key) {
                    hasDuplicates = true
                    break search
                }
            }
        } else {
            var seen = Set<ExactKey>(minimumCapacity: n)
            for m in parsedMembers where !seen.insert(ExactKey(m.key)).inserted {
                hasDuplicates = true
                break
            }
        }
        if !hasDuplicates {
            members = parsedMembers
            return
        }
        var positions: [ExactKey: Int] = [:]
        var unique: [(key: String, value: JSONValue)] = []
        unique.reserveCapacity(n)
        for m in parsedMembers {
            if let at = positions[exactly: m.key] {
                unique[at].value = m.value
            } else {
                positions[exactly: m.key] = unique.count
                unique.append(m)
            }
        }
        members = unique
    }

    /// Appends without checking for an existing key: for builders that know keys are fresh.
    public mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        members.append((key, value))
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        members.makeIterator()
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.count == b.count else { return false }
        for (k, v) in a.members where b[k] != v { return false }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent, to agree with ==.
        var acc = 0
        for (k, v) in members { acc ^= ExactKey(k).hashValue &+ 31 &* v.hashValue }
        hasher.combine(count)
        hasher.combine(acc)
    }
}

/// Strings compare code point by code point, like object keys: a schema's
/// `enum` or `const` of "é" does not admit "e\u{301}".
extension JSONValue: Hashable {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x.isExactly(y)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .int(let i): hasher.combine(2); hasher.combine(i)
        case .double(let d): hasher.combine(3); hasher.combine(d)
        case .string(let s): hasher.combine(4); hasher.combine(ExactKey(s))
        case .array(let a): hasher.combine(5); hasher.combine(a)
        case .object(let o): hasher.combine(6); hasher.combine(o)
        }
    }
}

extension JSONValue {
    public var isNull: Bool { if case .null = self { true } else { false } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }

    /// The value as an integer: an `.int`, or a `.double` with no fraction in Int64 range.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && d >= -9.2e18 && d <= 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// The value as a double: any number.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Member of an object, or nil for anything else.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// Element of an array, or nil for anything else or an index out of range.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    /// The JSON type name, as JSON Schema spells it ("integer" for whole numbers).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}
