/// An RFC 6570 URI template of the subset resource templates may use, and the
/// matching RFC 6570 leaves undefined: which variables a concrete URI binds.
///
/// Supported, because matching them is unambiguous:
/// - `{var}` (level 1): one or more unreserved characters or percent-escapes;
///   it never spans `/`, `?` or `#` unless they arrive escaped.
/// - `{+var}` (level 2, reserved): may span `/`, not `?` or `#`.
/// - `{#var}` (level 2, fragment): the fragment; must end the template.
/// - `{?a,b}` then any number of `{&c}`: the query string, matched as a set of
///   `name=value` pairs in any order, each variable optional; these must end
///   the template (or come just before `{#…}`). An expression per variable
///   written `x{?one}{?two}` would expand to `x?one=1?two=2`, so a second `{?`
///   is refused: the continuation is `{&two}`.
///
/// Refused at parse, each with a message naming it: the other level-3
/// operators (`.`, `/`, `;`), the reserved ones (`=`, `,`, `!`, `@`, `|`),
/// level-4 modifiers (`:n`, `*`), a variable named twice, unbalanced braces,
/// and anything that is not a valid URI character outside an expression.
///
/// Query variables and the fragment are optional in a URI; `{var}` and
/// `{+var}` match one character at least. Matched values are percent-decoded and must be UTF-8 without control
/// characters; the caller still checks them against the variable's declared
/// pattern before they reach a plugin.
public struct URITemplate: Sendable, Hashable, CustomStringConvertible {
    public enum Operator: Character, Sendable, Hashable {
        case simple = "\0"
        case reserved = "+"
        case fragment = "#"
        case query = "?"
        case continuation = "&"
    }

    enum Part: Sendable, Hashable {
        case literal([UInt8])
        case expression(Operator, [String])
    }

    public let text: String
    let parts: [Part]

    /// Every variable, in the order the template names them.
    public var variables: [String] {
        parts.flatMap { part -> [String] in
            if case .expression(_, let names) = part { return names }
            return []
        }
    }

    /// True when the template has no expression: it names exactly one URI.
    public var isFixed: Bool { variables.isEmpty }

    public var description: String { text }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public init(_ text: String) throws(ParseError) {
        self.text = text
        self.parts = try Self.parse(Array(text.utf8))
    }

    // MARK: Parsing

    private static func parse(_ bytes: [UInt8]) throws(ParseError) -> [Part] {
        func fail(_ message: String) -> ParseError { ParseError(message: message) }
        guard !bytes.isEmpty else { throw fail("the template is empty") }
        guard bytes.count <= 2048 else { throw fail("the template is longer than 2048 bytes") }
        var parts: [Part] = []
        var seen = Set<String>()
        var literal: [UInt8] = []
        var i = 0
        // Where the query expressions and the fragment stand, to keep them last.
        var sawQuery = false
        var sawFragment = false
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "}") { throw fail("a '}' without its '{' at byte \(i)") }
            if b != UInt8(ascii: "{") {
                guard isURIByte(b) else {
                    throw fail("byte \(i) (0x\(String(b, radix: 16))) is not a URI character; percent-encode it")
                }
                if b == UInt8(ascii: "#") { throw fail("a literal '#' at byte \(i): a fragment is written {#var}") }
                if b == UInt8(ascii: "%") {
                    guard i + 2 < bytes.count, isHex(bytes[i + 1]), isHex(bytes[i + 2]) else {
                        throw fail("a '%' at byte \(i) is not followed by two hex digits")
                    }
                }
                if sawQuery || sawFragment {
                    throw fail("only {&…} or {#…} may follow a query expression, and nothing may follow {#…}")
                }
                literal.append(b)
                i += 1
                continue
            }
            guard let close = bytes[i...].firstIndex(of: UInt8(ascii: "}")) else {
                throw fail("the '{' at byte \(i) is never closed")
            }
            let body = Array(bytes[(i + 1)..<close])
            if !literal.isEmpty {
                parts.append(.literal(literal))
                literal = []
            }
            guard let first = body.first else { throw fail("an empty expression '{}' at byte \(i)") }
            var op = Operator.simple
            var names = body[...]
            switch first {
            case UInt8(ascii: "+"): op = .reserved
            case UInt8(ascii: "#"): op = .fragment
            case UInt8(ascii: "?"): op = .query
            case UInt8(ascii: "&"): op = .continuation
            case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: ";"):
                throw fail("the operator '\(Character(UnicodeScalar(first)))' (RFC 6570 level 3) is not supported; use {var}, {+var}, {#var}, {?a,b} or {&c}")
            case UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: "!"), UInt8(ascii: "@"), UInt8(ascii: "|"):
                throw fail("the operator '\(Character(UnicodeScalar(first)))' is reserved by RFC 6570 and has no meaning")
            default: break
            }
            if op != .simple { names = names.dropFirst() }
            if sawFragment { throw fail("nothing may follow {#…}") }
            switch op {
            case .simple, .reserved:
                if sawQuery { throw fail("only {&…} or {#…} may follow a query expression") }
            case .query:
                if sawQuery { throw fail("a second {?…}: continue the query with {&…}") }
                sawQuery = true
            case .continuation:
                guard sawQuery else { throw fail("{&…} continues a query: it must follow {?…}") }
            case .fragment:
                sawFragment = true
            }
            var list: [String] = []
            for raw in names.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                let spec = Array(raw)
                if spec.contains(UInt8(ascii: ":")) || spec.last == UInt8(ascii: "*") {
                    throw fail("the modifiers ':n' and '*' (RFC 6570 level 4) are not supported")
                }
                guard isVariableName(spec) else {
                    throw fail("'\(String(decoding: spec, as: UTF8.self))' is not a variable name (ASCII letters, digits, '_', and '.' inside)")
                }
                let name = String(decoding: spec, as: UTF8.self)
                guard seen.insert(name).inserted else { throw fail("the variable '\(name)' is named twice") }
                list.append(name)
            }
            if (op == .simple || op == .reserved || op == .fragment) && list.count != 1 {
                throw fail("{a,b} lists (RFC 6570 level 3) are not supported outside {?…} and {&…}: one variable per expression")
            }
            parts.append(.expression(op, list))
            i = close + 1
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        if sawQuery, parts.contains(where: { if case .literal(let l) = $0 { return l.contains(UInt8(ascii: "?")) }; return false }) {
            throw fail("a literal '?' beside {?…}: write the whole query as {?…} variables")
        }
        // Two expressions side by side cannot be told apart when matching.
        for (a, b) in zip(parts, parts.dropFirst()) {
            if case .expression(let x, _) = a, case .expression(let y, _) = b,
               [.simple, .reserved].contains(x), [.simple, .reserved].contains(y) {
                throw fail("two expressions side by side ('{a}{b}') cannot be matched: put a literal between them")
            }
        }
        return parts
    }

    // MARK: Matching

    /// The variables `uri` binds, percent-decoded; nil when it does not match.
    /// Query variables absent from the URI are absent from the result.
    public func match(_ uri: String) -> [String: String]? {
        let bytes = Array(uri.utf8)
        guard bytes.count <= 8192, bytes.allSatisfy(Self.isURIByte) else { return nil }
        var pathEnd = bytes.count
        var fragment: ArraySlice<UInt8>?
        let hasFragment = parts.contains { if case .expression(.fragment, _) = $0 { return true }; return false }
        if let hash = bytes.firstIndex(of: UInt8(ascii: "#")) {
            guard hasFragment else { return nil }
            fragment = bytes[(hash + 1)...]
            pathEnd = hash
        }
        let queryVariables = parts.flatMap { part -> [String] in
            if case .expression(let op, let names) = part, op == .query || op == .continuation { return names }
            return []
        }
        let pathParts = parts.filter { part in
            if case .expression(let op, _) = part { return op != .query && op != .continuation && op != .fragment }
            return true
        }
        var head = bytes[..<pathEnd]
        var query: ArraySlice<UInt8> = []
        if !queryVariables.isEmpty, let q = head.firstIndex(of: UInt8(ascii: "?")) {
            query = head[(q + 1)...]
            head = head[..<q]
        }
        var values: [String: String] = [:]
        guard Self.matchParts(pathParts[...], head, &values) else { return nil }
        guard Self.matchQuery(query, allowed: Set(queryVariables), into: &values) else { return nil }
        if hasFragment, let fragment {
            guard let value = Self.decode(fragment, reserved: true) else { return nil }
            values[variables.last!] = value
        }
        return values
    }

    /// Literals match themselves; an expression takes the shortest run that lets
    /// the rest match (templates are short, so backtracking stays cheap).
    private static func matchParts(_ parts: ArraySlice<Part>, _ bytes: ArraySlice<UInt8>,
                                   _ values: inout [String: String]) -> Bool {
        guard let part = parts.first else { return bytes.isEmpty }
        switch part {
        case .literal(let l):
            guard bytes.starts(with: l) else { return false }
            return matchParts(parts.dropFirst(), bytes.dropFirst(l.count), &values)
        case .expression(let op, let names):
            let reserved = op == .reserved
            var end = bytes.startIndex
            while end < bytes.endIndex {
                let b = bytes[end]
                let allowed = isUnreserved(b) || b == UInt8(ascii: "%") || (reserved && isReservedOutsideQuery(b))
                guard allowed else { break }
                end += 1
                if b == UInt8(ascii: "%") { end = min(end + 2, bytes.endIndex) }
                var trial = values
                if let value = decode(bytes[bytes.startIndex..<end], reserved: reserved),
                   matchParts(parts.dropFirst(), bytes[end...], &trial) {
                    trial[names[0]] = value
                    values = trial
                    return true
                }
            }
            return false
        }
    }

    private static func matchQuery(_ query: ArraySlice<UInt8>, allowed: Set<String>,
                                   into values: inout [String: String]) -> Bool {
        guard !query.isEmpty else { return true }
        for pair in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
            guard let eq = pair.firstIndex(of: UInt8(ascii: "=")) else { return false }
            guard let name = decode(pair[..<eq], reserved: false), allowed.contains(name), values[name] == nil,
                  let value = decode(pair[(eq + 1)...], reserved: false) else { return false }
            values[name] = value
        }
        return true
    }

    /// Percent-decoded UTF-8 without control characters; nil otherwise. A
    /// simple expansion never holds a raw reserved character.
    static func decode(_ bytes: ArraySlice<UInt8>, reserved: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.endIndex, isHex(bytes[i + 1]), isHex(bytes[i + 2]) else { return nil }
                out.append(hexValue(bytes[i + 1]) << 4 | hexValue(bytes[i + 2]))
                i += 3
                continue
            }
            guard isUnreserved(b) || (reserved && isReservedOutsideQuery(b)) || (!reserved && b == UInt8(ascii: "+")) else {
                return nil
            }
            out.append(b)
            i += 1
        }
        guard !out.isEmpty, let s = String(validating: out, as: UTF8.self),
              !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value) })
        else { return nil }
        return s
    }

    // MARK: Expansion

    /// The URI these values make (RFC 6570 expansion); a variable without a
    /// value expands to nothing, as the RFC says.
    public func expand(_ values: [String: String]) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let l):
                out += String(decoding: l, as: UTF8.self)
            case .expression(let op, let names):
                switch op {
                case .simple, .reserved, .fragment:
                    guard let v = values[names[0]] else { continue }
                    if op == .fragment { out += "#" }
                    out += Self.encode(v, reserved: op != .simple)
                case .query, .continuation:
                    let pairs = names.compactMap { n in values[n].map { "\(n)=\(Self.encode($0, reserved: false))" } }
                    guard !pairs.isEmpty else { continue }
                    out += (op == .query ? "?" : "&") + pairs.joined(separator: "&")
                }
            }
        }
        return out
    }

    static func encode(_ value: String, reserved: Bool) -> String {
        var out = ""
        for b in value.utf8 {
            if isUnreserved(b) || (reserved && isReservedOutsideQuery(b)) {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                out += "%" + String(b >> 4, radix: 16, uppercase: true) + String(b & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    // MARK: Characters (RFC 3986)

    static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    /// Reserved characters a `{+var}` may hold raw: all but `?` and `#`, which
    /// would end the path.
    static func isReservedOutsideQuery(_ b: UInt8) -> Bool {
        Array(":/[]@!$&'()*+,;=".utf8).contains(b)
    }

    static func isURIByte(_ b: UInt8) -> Bool {
        isUnreserved(b) || isReservedOutsideQuery(b) || b == UInt8(ascii: "?") || b == UInt8(ascii: "#")
            || b == UInt8(ascii: "%")
    }

    static func isVariableName(_ spec: [UInt8]) -> Bool {
        guard !spec.isEmpty, spec.count <= 64, spec.first != UInt8(ascii: "."), spec.last != UInt8(ascii: ".") else {
            return false
        }
        return spec.allSatisfy { (($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39)
            || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")) }
    }

    static func isHex(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
    }

    static func hexValue(_ b: UInt8) -> UInt8 {
        switch b {
        case 0x30...0x39: b - 0x30
        case 0x41...0x46: b - 0x41 + 10
        default: b - 0x61 + 10
        }
    }
}
