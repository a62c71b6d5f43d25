import BulkheadProtocol

/// Checks tool arguments against a tool's input schema before a plugin sees them.
///
/// The schema is compiled once, when the manifest is loaded: every keyword is
/// checked for the right shape there (a broken schema is refused with one
/// message per fault, see ``InvalidSchema``) and every `pattern` is compiled to
/// a `Regex`. ``validate(_:limit:)`` then runs on every tool call, so it builds
/// no strings and allocates nothing unless the value breaks a rule.
///
/// The keywords checked are a subset of JSON Schema draft 2020-12, the ones tool
/// schemas use: `type`, `enum`, `const`, `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum` (numeric form), `minLength`,
/// `maxLength`, `pattern`, `required`, `properties`, `additionalProperties`,
/// `items`, `minItems`, `maxItems` and `uniqueItems`, at any depth, plus the
/// boolean schemas `true` and `false`. Annotations (`title`, `description`,
/// `default`, `examples`, `$schema`, `format`, …) and unknown keywords are
/// ignored, as the specification says; keywords of the specification that are
/// not implemented here are listed in ``unsupportedKeywords`` so a loader can
/// warn that they will not be enforced.
///
/// Semantics worth knowing:
/// - "integer" is any number with no fractional part, so `2.0` is an integer.
/// - Lengths count Unicode scalars (code points), not bytes or grapheme clusters.
/// - Patterns are searched for (not anchored) with Unicode-scalar semantics and
///   ASCII-only `\d` and `\w`, which is how ECMA-262 with the `u` flag reads them.
///   Swift's regex syntax is close to ECMA-262 but not identical; a pattern it
///   cannot parse (lookbehind, for one) is refused at compile time, never ignored.
/// - `enum`, `const` and `uniqueItems` use JSON equality: `1 == 1.0`, member
///   order is irrelevant, strings are equal only with the same code points.
/// - Property names are matched the way `JSONObject` looks members up (and so the
///   way the host hands arguments to a plugin), so a rule on a property can
///   never be dodged by spelling its name differently.
public struct JSONSchemaValidator: Sendable {
    /// How many violations ``validate(_:limit:)`` reports by default.
    public static let defaultViolationLimit = 20

    /// What the validated value is called in messages and human paths ("arguments").
    public let rootName: String

    /// Schema locations (`#/properties/x/anyOf`) of JSON Schema keywords this
    /// validator does not enforce, in schema order. Empty for most tool schemas.
    public let unsupportedKeywords: [String]

    private let root: SchemaNode

    /// Compiles `schema`. Throws every fault of the schema itself, not just the first.
    public init(_ schema: JSONValue, rootName: String = "arguments") throws(InvalidSchema) {
        var compiler = SchemaCompiler()
        let root = compiler.compile(schema, at: "", depth: 0)
        guard compiler.problems.isEmpty else { throw InvalidSchema(compiler.problems) }
        self.root = root
        self.rootName = rootName
        self.unsupportedKeywords = compiler.unsupported
    }

    /// Every way `value` breaks the schema, up to `limit` (at least 1), in a stable
    /// order: at each level its own rules (type, enum, const, bounds, lengths,
    /// pattern), then for an object the missing required members in `required`
    /// order and its members in their order, for an array its elements in order.
    /// Empty, without allocating, when the value is valid.
    public func validate(_ value: JSONValue, limit: Int = defaultViolationLimit) -> [SchemaViolation] {
        var run = SchemaValidationRun(limit: max(limit, 1))
        run.check(value, against: root)
        if run.found.isEmpty { return [] }
        return run.found.map { $0.rendered(rootName: rootName) }
    }

    /// Whether `value` satisfies the schema; stops at the first violation.
    public func isValid(_ value: JSONValue) -> Bool {
        var run = SchemaValidationRun(limit: 1)
        run.check(value, against: root)
        return run.found.isEmpty
    }

    /// The inclusive `minimum` and `maximum` the schema sets on a top-level
    /// property, for clamping. Exclusive bounds are not reported (no value equal
    /// to them is valid, so they cannot be clamped to); nil when not set.
    public func numericBounds(of property: String) -> (minimum: Double?, maximum: Double?) {
        guard let node = root.property(property) else { return (nil, nil) }
        return (node.minimum?.doubleValue, node.maximum?.doubleValue)
    }

    /// The bounds to clamp `value` of a top-level property into, or nil when it must
    /// not be clamped: it is not a number, or the property's `type` does not admit
    /// it as it is (`50.5` for an integer). Clamping only moves a value the schema
    /// would accept but for its bounds, so it never turns a wrong type into a right
    /// one. For an integer-only property the bounds are rounded inwards, so the
    /// clamped value is an integer too.
    public func clampBounds(of property: String, for value: JSONValue) -> (minimum: Double?, maximum: Double?)? {
        guard let node = root.property(property), value.doubleValue != nil else { return nil }
        if let types = node.types, !types.admits(value) { return nil }
        var lo = node.minimum?.doubleValue, hi = node.maximum?.doubleValue
        if let types = node.types, types.contains(.integer), !types.contains(.number) {
            lo = lo.map { $0.rounded(.up) }
            hi = hi.map { $0.rounded(.down) }
        }
        return (lo, hi)
    }
}

/// One way a value breaks a schema.
public struct SchemaViolation: Sendable, Hashable, CustomStringConvertible {
    /// Where, as a JSON pointer into the value: "/limit", "/items/2/name", "" for the root.
    public var path: String
    /// Where, for people: "arguments.limit", "arguments.items[2].name", "arguments" for the root.
    public var field: String
    /// The schema keyword broken: "type", "required", "minimum", … ("false" for a `false` schema).
    public var keyword: String
    /// A sentence naming the field and the rule: "limit must be at most 20 (got 50)".
    public var message: String

    public init(path: String, field: String, keyword: String, message: String) {
        self.path = path
        self.field = field
        self.keyword = keyword
        self.message = message
    }

    public var description: String { message }
}

/// The faults of a schema that cannot be compiled, each a sentence that starts
/// with the schema location: "#/properties/limit/minimum must be a number (got \"5\")".
public struct InvalidSchema: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "; ") }
}

// MARK: - Compiled form

/// A compiled pattern. `Regex` is not `Sendable`, but a compiled one is an
/// immutable value: its only mutable state is the lazily lowered matching
/// program, which the standard library initializes atomically (and which
/// ``init(source:)`` forces up front anyway), so sharing it across threads is safe.
private final class SchemaPattern: @unchecked Sendable {
    let source: String
    private let regex: Regex<AnyRegexOutput>

    init(source: String) throws {
        self.source = source
        regex = try Regex(source)
            .matchingSemantics(.unicodeScalar)
            .asciiOnlyDigits()
            .asciiOnlyWordCharacters()
        // Lower the program now, at load, rather than on the first call.
        _ = try? regex.firstMatch(in: "")
    }

    /// Search semantics: true if the pattern matches anywhere in `s`.
    func matches(_ s: String) -> Bool {
        (try? regex.firstMatch(in: s)) != nil
    }
}

/// The JSON types a `type` keyword allows.
private struct SchemaTypeSet: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = SchemaTypeSet(rawValue: 1 << 0)
    static let boolean = SchemaTypeSet(rawValue: 1 << 1)
    static let integer = SchemaTypeSet(rawValue: 1 << 2)
    static let number = SchemaTypeSet(rawValue: 1 << 3)
    static let string = SchemaTypeSet(rawValue: 1 << 4)
    static let array = SchemaTypeSet(rawValue: 1 << 5)
    static let object = SchemaTypeSet(rawValue: 1 << 6)

    /// In the order messages list them.
    static let named: [(name: String, type: SchemaTypeSet, phrase: String)] = [
        ("string", .string, "a string"), ("number", .number, "a number"), ("integer", .integer, "an integer"),
        ("boolean", .boolean, "a boolean"), ("object", .object, "an object"), ("array", .array, "an array"),
        ("null", .null, "null"),
    ]

    static func named(_ name: String) -> SchemaTypeSet? {
        for entry in named where entry.name == name { return entry.type }
        return nil
    }

    func admits(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return contains(.null)
        case .bool: return contains(.boolean)
        case .int: return !isDisjoint(with: [.integer, .number])
        case .double(let d): return contains(.number) || (contains(.integer) && SchemaNumber.isIntegral(d))
        case .string: return contains(.string)
        case .array: return contains(.array)
        case .object: return contains(.object)
        }
    }

    /// "a string", "a string or null", "a string, an integer or null".
    var phrase: String {
        let parts = Self.named.filter { contains($0.type) }.map(\.phrase)
        guard parts.count > 1 else { return parts.first ?? "nothing" }
        return parts.dropLast().joined(separator: ", ") + " or " + parts[parts.count - 1]
    }
}

/// A schema number, kept exact: integers are compared as integers.
private enum SchemaNumber: Sendable {
    case int(Int64)
    case double(Double)

    init?(_ value: JSONValue) {
        switch value {
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        default: return nil
        }
    }

    var doubleValue: Double {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        }
    }

    var text: String {
        switch self {
        case .int(let i): String(i)
        case .double(let d): SchemaNumber.text(d)
        }
    }

    /// Integral doubles of ordinary size are written without ".0": bounds read "20", not "20.0".
    static func text(_ d: Double) -> String {
        if isIntegral(d) && abs(d) < 1e15 { return String(Int64(d)) }
        return d.description
    }

    static func isIntegral(_ d: Double) -> Bool { d.isFinite && d.rounded(.towardZero) == d }

    /// The sign of `value - bound`; nil when `value` is not a number.
    static func compare(_ value: JSONValue, _ bound: SchemaNumber) -> Int? {
        switch (value, bound) {
        case (.int(let a), .int(let b)): return a < b ? -1 : (a > b ? 1 : 0)
        case (.int(let a), .double(let b)): return compare(a, b)
        case (.double(let a), .int(let b)): return -compare(b, a)
        case (.double(let a), .double(let b)): return a < b ? -1 : (a > b ? 1 : 0)
        default: return nil
        }
    }

    /// The sign of `i - d`, exact even where `Double(i)` would round.
    static func compare(_ i: Int64, _ d: Double) -> Int {
        if d.isNaN { return 0 }
        if d >= 9_223_372_036_854_775_808.0 { return -1 }
        if d < -9_223_372_036_854_775_808.0 { return 1 }
        let floor = d.rounded(.down)
        let f = Int64(floor)
        if i < f { return -1 }
        if i > f { return 1 }
        return floor < d ? -1 : 0
    }
}

/// What a schema says about members not named in `properties`.
private enum SchemaAdditionalProperties: Sendable {
    case allowed
    case forbidden
    case schema(SchemaNode)
}

/// One compiled schema: a sub-schema at any depth is another node.
private final class SchemaNode: Sendable {
    /// The `false` schema: nothing is valid.
    let rejectsEverything: Bool
    /// Nil when `type` is absent.
    let types: SchemaTypeSet?
    let enumValues: [JSONValue]?
    /// `.some(.null)` for `"const": null`; nil when absent.
    let constValue: JSONValue?
    let minimum: SchemaNumber?
    let maximum: SchemaNumber?
    let exclusiveMinimum: SchemaNumber?
    let exclusiveMaximum: SchemaNumber?
    let minLength: Int?
    let maxLength: Int?
    let pattern: SchemaPattern?
    let required: [String]
    let propertyNames: [String]
    let propertyNodes: [SchemaNode]
    /// For schemas with many properties; nil when a linear scan is faster.
    let propertyIndex: [ExactKey: Int]?
    let additionalProperties: SchemaAdditionalProperties
    let items: SchemaNode?
    let minItems: Int?
    let maxItems: Int?
    let uniqueItems: Bool
    /// Which groups of keywords are present, so a value skips the ones that are not.
    let hasNumberRules: Bool
    let hasStringRules: Bool
    let hasObjectRules: Bool
    let hasArrayRules: Bool

    init(rejectsEverything: Bool = false, types: SchemaTypeSet? = nil, enumValues: [JSONValue]? = nil,
         constValue: JSONValue? = nil, minimum: SchemaNumber? = nil, maximum: SchemaNumber? = nil,
         exclusiveMinimum: SchemaNumber? = nil, exclusiveMaximum: SchemaNumber? = nil,
         minLength: Int? = nil, maxLength: Int? = nil, pattern: SchemaPattern? = nil,
         required: [String] = [], properties: [(String, SchemaNode)] = [],
         additionalProperties: SchemaAdditionalProperties = .allowed, items: SchemaNode? = nil,
         minItems: Int? = nil, maxItems: Int? = nil, uniqueItems: Bool = false) {
        self.rejectsEverything = rejectsEverything
        self.types = types
        self.enumValues = enumValues
        self.constValue = constValue
        self.minimum = minimum
        self.maximum = maximum
        self.exclusiveMinimum = exclusiveMinimum
        self.exclusiveMaximum = exclusiveMaximum
        self.minLength = minLength
        self.maxLength = maxLength
        self.pattern = pattern
        self.required = required
        propertyNames = properties.map(\.0)
        propertyNodes = properties.map(\.1)
        if properties.count > 8 {
            var index: [ExactKey: Int] = [:]
            for (i, name) in propertyNames.enumerated() where index[exactly: name] == nil { index[exactly: name] = i }
            propertyIndex = index
        } else {
            propertyIndex = nil
        }
        self.additionalProperties = additionalProperties
        self.items = items
        self.minItems = minItems
        self.maxItems = maxItems
        self.uniqueItems = uniqueItems
        hasNumberRules = minimum != nil || maximum != nil || exclusiveMinimum != nil || exclusiveMaximum != nil
        hasStringRules = minLength != nil || maxLength != nil || pattern != nil
        let additionalMatters = if case .allowed = additionalProperties { false } else { true }
        hasObjectRules = !required.isEmpty || !properties.isEmpty || additionalMatters
        hasArrayRules = items != nil || minItems != nil || maxItems != nil || uniqueItems
    }

    /// The schema of property `name`, matched as `JSONObject` matches keys.
    @inline(__always)
    func property(_ name: String) -> SchemaNode? {
        if let propertyIndex {
            return propertyIndex[exactly: name].map { propertyNodes[$0] }
        }
        for i in propertyNames.indices where propertyNames[i].isExactly(name) { return propertyNodes[i] }
        return nil
    }
}

// MARK: - Compiling

private struct SchemaCompiler {
    var problems: [String] = []
    var unsupported: [String] = []

    /// Deeper schemas are refused, which bounds the recursion of both compiling and validating.
    static let maximumDepth = 256

    /// Keywords of the specification that change what is valid but are not enforced here.
    static let unenforced: Set<String> = [
        "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref", "$dynamicRef",
        "dependentSchemas", "dependentRequired", "dependencies", "prefixItems", "contains",
        "minContains", "maxContains", "unevaluatedItems", "unevaluatedProperties",
        "patternProperties", "propertyNames", "minProperties", "maxProperties", "multipleOf",
    ]

    mutating func compile(_ schema: JSONValue, at location: String, depth: Int) -> SchemaNode {
        switch schema {
        case .bool(let b):
            return SchemaNode(rejectsEverything: !b)
        case .object(let object):
            guard depth < Self.maximumDepth else {
                problem(location, "nests deeper than \(Self.maximumDepth) schemas")
                return SchemaNode()
            }
            return compileObject(object, at: location, depth: depth)
        default:
            problem(location, "must be a schema: an object or a boolean (got \(SchemaText.json(schema)))")
            return SchemaNode()
        }
    }

    private mutating func compileObject(_ s: JSONObject, at location: String, depth: Int) -> SchemaNode {
        func at(_ keyword: String) -> String { location + "/" + SchemaPointer.escape(keyword) }

        for (key, _) in s where Self.unenforced.contains(key) { unsupported.append("#" + at(key)) }

        var types: SchemaTypeSet?
        if let t = s["type"] { types = typeSet(t, at: at("type")) }

        var enumValues: [JSONValue]?
        switch s["enum"] {
        case nil: break
        case .array(let values)?:
            if values.isEmpty { problem(at("enum"), "must list at least one value") } else { enumValues = values }
        case let other?: problem(at("enum"), "must be an array (got \(SchemaText.json(other)))")
        }

        let minimum = number("minimum", in: s, at: at("minimum"))
        let maximum = number("maximum", in: s, at: at("maximum"))
        let exclusiveMinimum = number("exclusiveMinimum", in: s, at: at("exclusiveMinimum"))
        let exclusiveMaximum = number("exclusiveMaximum", in: s, at: at("exclusiveMaximum"))
        let minLength = count("minLength", in: s, at: at("minLength"))
        let maxLength = count("maxLength", in: s, at: at("maxLength"))
        let minItems = count("minItems", in: s, at: at("minItems"))
        let maxItems = count("maxItems", in: s, at: at("maxItems"))

        var pattern: SchemaPattern?
        switch s["pattern"] {
        case nil: break
        case .string(let source)?:
            do {
                pattern = try SchemaPattern(source: source)
            } catch {
                problem(at("pattern"), "\(SchemaText.json(.string(source))) is not a valid regular expression: \(error)")
            }
        case let other?: problem(at("pattern"), "must be a string (got \(SchemaText.json(other)))")
        }

        var uniqueItems = false
        switch s["uniqueItems"] {
        case nil: break
        case .bool(let b)?: uniqueItems = b
        case let other?: problem(at("uniqueItems"), "must be a boolean (got \(SchemaText.json(other)))")
        }

        var required: [String] = []
        switch s["required"] {
        case nil: break
        case .array(let names)?:
            for (i, name) in names.enumerated() {
                if case .string(let n) = name {
                    if !required.contains(n) { required.append(n) }
                } else {
                    problem(at("required") + "/\(i)", "must be a string (got \(SchemaText.json(name)))")
                }
            }
        case let other?: problem(at("required"), "must be an array of property names (got \(SchemaText.json(other)))")
        }

        var properties: [(String, SchemaNode)] = []
        switch s["properties"] {
        case nil: break
        case .object(let members)?:
            properties.reserveCapacity(members.count)
            for (name, sub) in members {
                properties.append((name, compile(sub, at: at("properties") + "/" + SchemaPointer.escape(name), depth: depth + 1)))
            }
        case let other?: problem(at("properties"), "must be an object of schemas (got \(SchemaText.json(other)))")
        }

        var additional = SchemaAdditionalProperties.allowed
        switch s["additionalProperties"] {
        case nil, .bool(true)?: break
        case .bool(false)?: additional = .forbidden
        case let sub?: additional = .schema(compile(sub, at: at("additionalProperties"), depth: depth + 1))
        }

        var items: SchemaNode?
        switch s["items"] {
        case nil: break
        case .array?:
            problem(at("items"), "must be a schema: an object or a boolean (the array form of older drafts is prefixItems in 2020-12, which is not supported)")
        case let sub?: items = compile(sub, at: at("items"), depth: depth + 1)
        }

        return SchemaNode(
            types: types, enumValues: enumValues, constValue: s["const"],
            minimum: minimum, maximum: maximum, exclusiveMinimum: exclusiveMinimum, exclusiveMaximum: exclusiveMaximum,
            minLength: minLength, maxLength: maxLength, pattern: pattern,
            required: required, properties: properties, additionalProperties: additional,
            items: items, minItems: minItems, maxItems: maxItems, uniqueItems: uniqueItems)
    }

    private mutating func typeSet(_ value: JSONValue, at location: String) -> SchemaTypeSet? {
        let expected = "string, number, integer, boolean, object, array or null"
        switch value {
        case .string(let name):
            if let t = SchemaTypeSet.named(name) { return t }
            problem(location, "names an unknown type \(SchemaText.json(value)) (expected \(expected))")
        case .array(let names):
            if names.isEmpty {
                problem(location, "must name at least one type")
                return nil
            }
            var set = SchemaTypeSet()
            for (i, name) in names.enumerated() {
                if case .string(let n) = name, let t = SchemaTypeSet.named(n) {
                    set.insert(t)
                } else {
                    problem(location + "/\(i)", "must be a type name: \(expected) (got \(SchemaText.json(name)))")
                }
            }
            return set
        default:
            problem(location, "must be a type name or an array of them (got \(SchemaText.json(value)))")
        }
        return nil
    }

    private mutating func number(_ keyword: String, in s: JSONObject, at location: String) -> SchemaNumber? {
        guard let value = s[keyword] else { return nil }
        if let n = SchemaNumber(value) { return n }
        if case .bool = value, keyword.hasPrefix("exclusive") {
            let bound = keyword == "exclusiveMinimum" ? "minimum" : "maximum"
            problem(location, "must be a number (got \(SchemaText.json(value)); the boolean form of draft 4 is not supported: put the bound itself in \(keyword) and drop \(bound))")
        } else {
            problem(location, "must be a number (got \(SchemaText.json(value)))")
        }
        return nil
    }

    /// A non-negative integer, as the length and count keywords take (2.0 counts as 2).
    private mutating func count(_ keyword: String, in s: JSONObject, at location: String) -> Int? {
        guard let value = s[keyword] else { return nil }
        if let i = value.intValue, i >= 0 {
            return Int(clamping: i)
        }
        if case .double(let d) = value, SchemaNumber.isIntegral(d), d > 0 {
            return Int.max  // beyond Int64: no string or array is that long
        }
        problem(location, "must be a non-negative integer (got \(SchemaText.json(value)))")
        return nil
    }

    private mutating func problem(_ location: String, _ message: String) {
        problems.append("#\(location) \(message)")
    }
}

// MARK: - Validating

/// A path segment, collected only when a violation unwinds through it.
private enum SchemaPathSegment: Sendable {
    case key(String)
    case index(Int)
}

/// A violation as found, before any of its text is built.
private struct FoundSchemaViolation {
    enum Rule {
        case falseSchema
        case type(SchemaTypeSet, got: JSONValue)
        case enumeration([JSONValue])
        case const(JSONValue)
        case minimum(SchemaNumber, got: JSONValue)
        case maximum(SchemaNumber, got: JSONValue)
        case exclusiveMinimum(SchemaNumber, got: JSONValue)
        case exclusiveMaximum(SchemaNumber, got: JSONValue)
        case minLength(Int, got: Int)
        case maxLength(Int, got: Int)
        case pattern(SchemaPattern)
        case required
        case additionalProperty
        case minItems(Int, got: Int)
        case maxItems(Int, got: Int)
        case uniqueItems(Int, Int)
    }

    let rule: Rule
    /// Innermost segment first: each level appends its own as the violation unwinds.
    var reversedPath: [SchemaPathSegment]
}

private struct SchemaValidationRun {
    let limit: Int
    var found: [FoundSchemaViolation] = []

    init(limit: Int) { self.limit = limit }

    var isFull: Bool { found.count >= limit }

    mutating func report(_ rule: FoundSchemaViolation.Rule, at segment: SchemaPathSegment? = nil) {
        guard !isFull else { return }
        found.append(FoundSchemaViolation(rule: rule, reversedPath: segment.map { [$0] } ?? []))
    }

    /// Checks `value` against `node` at `segment` below the current level.
    @inline(__always)
    mutating func check(_ value: JSONValue, against node: SchemaNode, at segment: SchemaPathSegment) {
        let before = found.count
        check(value, against: node)
        if found.count > before {
            for i in before..<found.count { found[i].reversedPath.append(segment) }
        }
    }

    mutating func check(_ value: JSONValue, against node: SchemaNode) {
        if node.rejectsEverything {
            report(.falseSchema)
            return
        }
        if let types = node.types, !types.admits(value) {
            report(.type(types, got: value))
        }
        if let values = node.enumValues, !values.contains(where: { SchemaEquality.equal($0, value) }) {
            report(.enumeration(values))
        }
        if let constant = node.constValue, !SchemaEquality.equal(constant, value) {
            report(.const(constant))
        }
        switch value {
        case .int, .double:
            if node.hasNumberRules { checkNumber(value, node) }
        case .string(let s):
            if node.hasStringRules { checkString(s, node) }
        case .object(let object):
            if node.hasObjectRules { checkObject(object, node) }
        case .array(let elements):
            if node.hasArrayRules { checkArray(elements, node) }
        case .null, .bool:
            break
        }
    }

    private mutating func checkNumber(_ value: JSONValue, _ node: SchemaNode) {
        if let b = node.minimum, let c = SchemaNumber.compare(value, b), c < 0 { report(.minimum(b, got: value)) }
        if let b = node.maximum, let c = SchemaNumber.compare(value, b), c > 0 { report(.maximum(b, got: value)) }
        if let b = node.exclusiveMinimum, let c = SchemaNumber.compare(value, b), c <= 0 {
            report(.exclusiveMinimum(b, got: value))
        }
        if let b = node.exclusiveMaximum, let c = SchemaNumber.compare(value, b), c >= 0 {
            report(.exclusiveMaximum(b, got: value))
        }
    }

    private mutating func checkString(_ s: String, _ node: SchemaNode) {
        if node.minLength != nil || node.maxLength != nil {
            // A scalar is 1 to 4 UTF-8 bytes; the byte count (O(1)) settles most cases without counting.
            let bytes = s.utf8.count
            if let min = node.minLength, (bytes + 3) / 4 < min {
                let n = s.unicodeScalars.count
                if n < min { report(.minLength(min, got: n)) }
            }
            if let max = node.maxLength, bytes > max {
                let n = s.unicodeScalars.count
                if n > max { report(.maxLength(max, got: n)) }
            }
        }
        if let pattern = node.pattern, !isFull, !pattern.matches(s) {
            report(.pattern(pattern))
        }
    }

    private mutating func checkObject(_ object: JSONObject, _ node: SchemaNode) {
        for name in node.required where !isFull && !Self.has(object, name) {
            report(.required, at: .key(name))
        }
        let additional = node.additionalProperties
        for (key, member) in object {
            if isFull { return }
            if let sub = node.property(key) {
                check(member, against: sub, at: .key(key))
            } else {
                switch additional {
                case .allowed: break
                case .forbidden: report(.additionalProperty, at: .key(key))
                case .schema(let sub): check(member, against: sub, at: .key(key))
                }
            }
        }
    }

    @inline(__always)
    private static func has(_ object: JSONObject, _ name: String) -> Bool {
        for m in object.members where m.key.isExactly(name) { return true }
        return false
    }

    private mutating func checkArray(_ elements: [JSONValue], _ node: SchemaNode) {
        if let min = node.minItems, elements.count < min { report(.minItems(min, got: elements.count)) }
        if let max = node.maxItems, elements.count > max { report(.maxItems(max, got: elements.count)) }
        if node.uniqueItems, !isFull, let (i, j) = SchemaEquality.firstDuplicate(in: elements) {
            report(.uniqueItems(i, j))
        }
        if let items = node.items {
            for (i, element) in elements.enumerated() {
                if isFull { return }
                check(element, against: items, at: .index(i))
            }
        }
    }
}

// MARK: - JSON equality

private enum SchemaEquality {
    /// JSON Schema's equality: numbers by value (1 == 1.0), strings by code points,
    /// arrays element by element, objects by their members regardless of order.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return SchemaNumber.compare(x, y) == 0 && !y.isNaN
        case (.string(let x), .string(let y)): return sameScalars(x, y)
        case (.array(let x), .array(let y)):
            guard x.count == y.count else { return false }
            for i in x.indices where !equal(x[i], y[i]) { return false }
            return true
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            outer: for m in x.members {
                for n in y.members where sameScalars(m.key, n.key) {
                    if equal(m.value, n.value) { continue outer }
                    return false
                }
                return false
            }
            return true
        default: return false
        }
    }

    /// String's own `==` is canonical equivalence ("é" precomposed equals "e" + combining
    /// accent); JSON equality is code point by code point, which is what a plugin's byte
    /// comparison will see.
    @inline(__always)
    static func sameScalars(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8)
    }

    /// The first `(i, j)`, `i < j`, with equal elements, by smallest `j`; nil when all differ.
    static func firstDuplicate(in elements: [JSONValue]) -> (Int, Int)? {
        if elements.count < 2 { return nil }
        if elements.count <= 32 {
            for j in 1..<elements.count {
                for i in 0..<j where equal(elements[i], elements[j]) { return (i, j) }
            }
            return nil
        }
        var buckets: [UInt64: [Int]] = [:]
        buckets.reserveCapacity(elements.count)
        for (j, element) in elements.enumerated() {
            let h = hash(element)
            if let earlier = buckets[h] {
                for i in earlier where equal(elements[i], element) { return (i, j) }
            }
            buckets[h, default: []].append(j)
        }
        return nil
    }

    /// A hash that agrees with ``equal(_:_:)``: equal values hash alike.
    static func hash(_ value: JSONValue) -> UInt64 {
        var h = FNV()
        hash(value, into: &h)
        return h.value
    }

    private static func hash(_ value: JSONValue, into h: inout FNV) {
        switch value {
        case .null: h.add(0)
        case .bool(let b): h.add(b ? 1 : 2)
        case .int(let i): h.add(3); h.mix(UInt64(bitPattern: i))
        case .double(let d):
            if SchemaNumber.isIntegral(d) && d >= -9.2e18 && d <= 9.2e18 {
                h.add(3); h.mix(UInt64(bitPattern: Int64(d)))
            } else {
                h.add(4); h.mix(d.bitPattern)
            }
        case .string(let s):
            h.add(5)
            for byte in s.utf8 { h.add(byte) }
        case .array(let elements):
            h.add(6)
            for e in elements { hash(e, into: &h) }
        case .object(let object):
            // Order-independent: a sum of member hashes.
            var sum: UInt64 = 0
            for (k, v) in object {
                var m = FNV()
                for byte in k.utf8 { m.add(byte) }
                hash(v, into: &m)
                sum &+= m.value
            }
            h.add(7)
            h.mix(sum)
        }
    }

    private struct FNV {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        mutating func add(_ byte: UInt8) {
            value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        mutating func mix(_ word: UInt64) {
            var w = word
            for _ in 0..<8 {
                add(UInt8(truncatingIfNeeded: w))
                w >>= 8
            }
        }
    }
}

// MARK: - Text, built only for violations and problems

private enum SchemaPointer {
    /// RFC 6901: "~" is "~0" and "/" is "~1" inside a segment.
    static func escape(_ key: String) -> String {
        guard key.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return key }
        var out = ""
        for c in key.unicodeScalars {
            switch c {
            case "~": out += "~0"
            case "/": out += "~1"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

private enum SchemaText {
    /// Compact JSON text, cut to about `limit` characters.
    static func json(_ value: JSONValue, limit: Int = 60) -> String {
        truncated(String(decoding: value.serialized(), as: UTF8.self), to: limit)
    }

    static func truncated(_ s: String, to limit: Int) -> String {
        guard s.unicodeScalars.count > limit else { return s }
        var out = String.UnicodeScalarView(s.unicodeScalars.prefix(limit))
        out.append("…")
        return String(out)
    }

    /// What a value was, for a type mismatch: numbers, booleans and null as
    /// themselves, the rest by kind (the client's strings are not echoed).
    static func got(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): SchemaNumber.text(d)
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    static func number(_ value: JSONValue) -> String {
        switch value {
        case .int(let i): String(i)
        case .double(let d): SchemaNumber.text(d)
        default: got(value)
        }
    }

    static func plural(_ n: Int, _ word: String) -> String { n == 1 ? "\(n) \(word)" : "\(n) \(word)s" }

    /// "\"open\", \"closed\"", at most ten values.
    static func list(_ values: [JSONValue]) -> String {
        var parts = values.prefix(10).map { json($0, limit: 40) }
        if values.count > 10 { parts.append("…") }
        return parts.joined(separator: ", ")
    }
}

extension FoundSchemaViolation {
    func rendered(rootName: String) -> SchemaViolation {
        let path = reversedPath.reversed()
        var pointer = ""
        for segment in path {
            switch segment {
            case .key(let k): pointer += "/" + SchemaPointer.escape(k)
            case .index(let i): pointer += "/\(i)"
            }
        }
        let field = Self.human(path, rootName: rootName, forMessage: false)
        let name = Self.human(path, rootName: rootName, forMessage: true)

        let keyword: String
        let message: String
        switch rule {
        case .falseSchema:
            keyword = "false"
            message = "\(name) is not allowed"
        case .type(let types, let got):
            keyword = "type"
            message = "\(name) must be \(types.phrase) (got \(SchemaText.got(got)))"
        case .enumeration(let values):
            keyword = "enum"
            message = values.count == 1
                ? "\(name) must be \(SchemaText.list(values))"
                : "\(name) must be one of \(SchemaText.list(values))"
        case .const(let value):
            keyword = "const"
            message = "\(name) must be \(SchemaText.json(value))"
        case .minimum(let b, let got):
            keyword = "minimum"
            message = "\(name) must be at least \(b.text) (got \(SchemaText.number(got)))"
        case .maximum(let b, let got):
            keyword = "maximum"
            message = "\(name) must be at most \(b.text) (got \(SchemaText.number(got)))"
        case .exclusiveMinimum(let b, let got):
            keyword = "exclusiveMinimum"
            message = "\(name) must be greater than \(b.text) (got \(SchemaText.number(got)))"
        case .exclusiveMaximum(let b, let got):
            keyword = "exclusiveMaximum"
            message = "\(name) must be less than \(b.text) (got \(SchemaText.number(got)))"
        case .minLength(let n, let got):
            keyword = "minLength"
            message = "\(name) must be at least \(SchemaText.plural(n, "character")) long (got \(got))"
        case .maxLength(let n, let got):
            keyword = "maxLength"
            message = "\(name) must be at most \(SchemaText.plural(n, "character")) long (got \(got))"
        case .pattern(let p):
            keyword = "pattern"
            message = "\(name) must match the pattern /\(SchemaText.truncated(p.source, to: 80))/"
        case .required:
            keyword = "required"
            message = "\(name) is required"
        case .additionalProperty:
            keyword = "additionalProperties"
            var key = ""
            if case .key(let k)? = path.last { key = SchemaText.truncated(k, to: 64) }
            let parent = path.dropLast()
            let place = parent.isEmpty ? "" : " in \(Self.human(parent, rootName: rootName, forMessage: true))"
            message = "unexpected property '\(key)'\(place) (additionalProperties is false)"
        case .minItems(let n, let got):
            keyword = "minItems"
            message = "\(name) must have at least \(SchemaText.plural(n, "item")) (got \(got))"
        case .maxItems(let n, let got):
            keyword = "maxItems"
            message = "\(name) must have at most \(SchemaText.plural(n, "item")) (got \(got))"
        case .uniqueItems(let i, let j):
            keyword = "uniqueItems"
            message = "\(name) must not contain duplicates (items \(i) and \(j) are equal)"
        }
        return SchemaViolation(path: pointer, field: field, keyword: keyword, message: message)
    }

    /// "arguments.items[2].name", or for messages "items[2].name" (the root's name is
    /// dropped before a plain first key, and used alone for the root itself).
    static func human<C: Collection>(_ path: C, rootName: String, forMessage: Bool) -> String
    where C.Element == SchemaPathSegment {
        var out = ""
        for (n, segment) in path.enumerated() {
            switch segment {
            case .key(let k):
                if isPlain(k) {
                    if n == 0 && forMessage {
                        out = SchemaText.truncated(k, to: 64)
                    } else {
                        if n == 0 { out = rootName }
                        out += "." + SchemaText.truncated(k, to: 64)
                    }
                } else {
                    if n == 0 { out = rootName }
                    out += "[" + SchemaText.json(.string(k), limit: 66) + "]"
                }
            case .index(let i):
                if n == 0 { out = rootName }
                out += "[\(i)]"
            }
        }
        return path.isEmpty ? rootName : out
    }

    /// A key that reads unambiguously after a dot: no spaces, quotes, dots or brackets.
    static func isPlain(_ key: String) -> Bool {
        if key.isEmpty { return false }
        for c in key.utf8 {
            switch c {
            case 0...0x20, 0x7f, UInt8(ascii: "."), UInt8(ascii: "["), UInt8(ascii: "]"),
                UInt8(ascii: "\""), UInt8(ascii: "'"):
                return false
            default: continue
            }
        }
        return true
    }
}
