/// Strict RFC 8259 parsing of one JSON text from raw bytes.
///
/// Every incoming MCP message goes through here exactly once, so it is written
/// for the hot path: it reads the caller's buffer in place, builds strings
/// straight from the bytes when they hold no escapes, collects container
/// elements on reusable scratch stacks so each array or object is allocated
/// once at its final size, and reports the first fault with its byte offset.
extension JSONValue {
    /// Deepest nesting of arrays and objects accepted; deeper input is an error,
    /// which bounds both the recursion here and the work a hostile line can cause.
    public static let maximumNestingDepth = 256

    /// Parses exactly one JSON value (surrounded by optional whitespace) from `bytes`.
    ///
    /// Rejects everything RFC 8259 does not allow: trailing commas, leading zeros,
    /// unescaped control characters, invalid UTF-8, lone surrogates in `\u`
    /// escapes, and nesting deeper than ``maximumNestingDepth``. Numbers without
    /// fraction or exponent that fit in Int64 become `.int`, all others `.double`.
    ///
    /// `maxElements` bounds what the parsed tree can cost: every value (a scalar,
    /// an array, an object, at any depth) counts one, and the parse stops with
    /// `.tooManyElements` at the first one past the budget, before the tree it
    /// would have grown exists. A tree costs up to ~30 bytes per byte of dense
    /// input (`[0],[0],…`: an allocation per array), so a byte limit alone does not
    /// bound memory tightly; this does, as Jackson's maxTokenCount does.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxElements: Int = .max) throws(JSONParseError) -> JSONValue {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw JSONParseError(.emptyInput, at: 0)
        }
        var parser = JSONParser(base: base.assumingMemoryBound(to: UInt8.self), count: bytes.count, maxElements: maxElements)
        return try parser.parseDocument()
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        do {
            return try bytes.withUnsafeBytes { buffer throws(JSONParseError) in try parse(buffer) }
        } catch let error as JSONParseError {
            throw error
        } catch {
            // withUnsafeBytes rethrows only what the body throws.
            fatalError("unreachable: \(error)")
        }
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var text = text
        do {
            return try text.withUTF8 { buffer throws(JSONParseError) in try parse(UnsafeRawBufferPointer(buffer)) }
        } catch let error as JSONParseError {
            throw error
        } catch {
            fatalError("unreachable: \(error)")
        }
    }
}

/// The parsing state: a cursor over the input plus scratch space reused across
/// the whole document.
struct JSONParser {
    private let base: UnsafePointer<UInt8>
    private let count: Int
    private var index = 0
    private var depth = 0
    private let maxElements: Int
    /// Values still allowed; below zero the parse stops.
    private var elementsLeft: Int
    /// Decoded bytes of the string being read, used only when it contains escapes.
    private var scratch: [UInt8] = []
    /// Elements of all arrays being read, innermost last.
    private var elementStack: [JSONValue] = []
    /// Members of all objects being read, innermost last.
    private var memberStack: [(key: String, value: JSONValue)] = []

    init(base: UnsafePointer<UInt8>, count: Int, maxElements: Int = .max) {
        self.base = base
        self.count = count
        self.maxElements = maxElements
        self.elementsLeft = maxElements
    }

    // MARK: Bytes

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    @inline(__always)
    private func fail(_ reason: JSONParseError.Reason, at offset: Int) -> JSONParseError {
        JSONParseError(reason, at: offset)
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while index < count {
            switch base[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    // MARK: Values

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard index < count else { throw fail(.emptyInput, at: index) }
        let value = try parseValue()
        skipWhitespace()
        guard index == count else { throw fail(.trailingCharacters, at: index) }
        return value
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard index < count else { throw fail(.unexpectedEnd, at: index) }
        elementsLeft &-= 1
        if elementsLeft < 0 { throw fail(.tooManyElements(limit: maxElements), at: index) }
        switch base[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case Self.quote: return .string(try parseString())
        case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try parseLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case let b: throw fail(.unexpectedByte(b), at: index)
        }
    }

    private mutating func parseLiteral(_ literal: StaticString) throws(JSONParseError) {
        let start = index
        let n = literal.utf8CodeUnitCount
        guard count - index >= n else { throw fail(.invalidLiteral, at: start) }
        let expected = literal.utf8Start
        for i in 0..<n where base[index + i] != expected[i] {
            throw fail(.invalidLiteral, at: start)
        }
        index += n
    }

    private mutating func enterContainer() throws(JSONParseError) {
        depth += 1
        if depth > JSONValue.maximumNestingDepth {
            throw fail(.tooDeep(limit: JSONValue.maximumNestingDepth), at: index)
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1  // [
        skipWhitespace()
        if index < count && base[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array([])
        }
        let start = elementStack.count
        while true {
            let value = try parseValue()
            elementStack.append(value)
            skipWhitespace()
            guard index < count else { throw fail(.unexpectedEnd, at: index) }
            let b = base[index]
            if b == UInt8(ascii: ",") {
                index += 1
                skipWhitespace()
                if index < count && base[index] == UInt8(ascii: "]") { throw fail(.trailingComma, at: index) }
                continue
            }
            if b == UInt8(ascii: "]") {
                index += 1
                break
            }
            throw fail(.expectedCommaOrEnd, at: index)
        }
        let elements = Array(elementStack[start...])
        elementStack.removeLast(elementStack.count - start)
        depth -= 1
        return .array(elements)
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1  // {
        skipWhitespace()
        if index < count && base[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(JSONObject())
        }
        if memberStack.capacity == 0 {
            // One allocation sized for a typical envelope instead of growing 1, 2, 4, 8, 16.
            memberStack.reserveCapacity(16)
        }
        let start = memberStack.count
        while true {
            skipWhitespace()
            guard index < count else { throw fail(.unexpectedEnd, at: index) }
            guard base[index] == Self.quote else {
                if base[index] == UInt8(ascii: "}") && memberStack.count > start {
                    throw fail(.trailingComma, at: index)
                }
                throw fail(.expectedKey, at: index)
            }
            let key = try parseString()
            skipWhitespace()
            guard index < count else { throw fail(.unexpectedEnd, at: index) }
            guard base[index] == UInt8(ascii: ":") else { throw fail(.expectedColon, at: index) }
            index += 1
            let value = try parseValue()
            memberStack.append((key, value))
            skipWhitespace()
            guard index < count else { throw fail(.unexpectedEnd, at: index) }
            let b = base[index]
            if b == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if b == UInt8(ascii: "}") {
                index += 1
                break
            }
            throw fail(.expectedCommaOrEnd, at: index)
        }
        let members = Array(memberStack[start...])
        memberStack.removeLast(memberStack.count - start)
        depth -= 1
        return .object(JSONObject(parsedMembers: members))
    }

    // MARK: Strings

    /// Reads a string starting at its opening quote.
    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // "
        let start = index
        // Fast path: no escapes, so the string is a slice of the input.
        while index < count {
            let b = base[index]
            if b == Self.quote {
                let s = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
                index += 1
                return s
            }
            if b == Self.backslash {
                return try parseEscapedString(from: start)
            }
            if b < 0x20 { throw fail(.controlCharacterInString(b), at: index) }
            if b >= 0x80 {
                try skipUTF8Sequence()
            } else {
                index += 1
            }
        }
        throw fail(.unexpectedEnd, at: index)
    }

    /// Continues a string that contains escapes: decodes into the scratch buffer.
    private mutating func parseEscapedString(from start: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: base + start, count: index - start))
        while index < count {
            let b = base[index]
            if b == Self.quote {
                index += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if b == Self.backslash {
                try decodeEscape()
                continue
            }
            if b < 0x20 { throw fail(.controlCharacterInString(b), at: index) }
            if b >= 0x80 {
                let sequenceStart = index
                try skipUTF8Sequence()
                scratch.append(contentsOf: UnsafeBufferPointer(start: base + sequenceStart, count: index - sequenceStart))
            } else {
                scratch.append(b)
                index += 1
            }
        }
        throw fail(.unexpectedEnd, at: index)
    }

    /// Decodes one escape sequence starting at its backslash into the scratch buffer.
    private mutating func decodeEscape() throws(JSONParseError) {
        let escapeStart = index
        index += 1
        guard index < count else { throw fail(.unexpectedEnd, at: index) }
        let c = base[index]
        index += 1
        switch c {
        case UInt8(ascii: "\""): scratch.append(Self.quote)
        case UInt8(ascii: "\\"): scratch.append(Self.backslash)
        case UInt8(ascii: "/"): scratch.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try readHex4(escapeStart: escapeStart)
            var scalar = UInt32(unit)
            if unit >= 0xD800 && unit <= 0xDBFF {
                // A high surrogate must be followed at once by an escaped low surrogate.
                guard count - index >= 6, base[index] == Self.backslash, base[index + 1] == UInt8(ascii: "u") else {
                    throw fail(.loneSurrogate, at: escapeStart)
                }
                let lowStart = index
                index += 2
                let low = try readHex4(escapeStart: lowStart)
                guard low >= 0xDC00 && low <= 0xDFFF else { throw fail(.loneSurrogate, at: escapeStart) }
                scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            } else if unit >= 0xDC00 && unit <= 0xDFFF {
                throw fail(.loneSurrogate, at: escapeStart)
            }
            appendUTF8(scalar)
        default:
            throw fail(.invalidEscape, at: escapeStart)
        }
    }

    private mutating func readHex4(escapeStart: Int) throws(JSONParseError) -> UInt16 {
        guard count - index >= 4 else { throw fail(.invalidUnicodeEscape, at: escapeStart) }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let h = base[index]
            let digit: UInt8
            switch h {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = h &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = h &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = h &- UInt8(ascii: "A") &+ 10
            default: throw fail(.invalidUnicodeEscape, at: escapeStart)
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `index` (RFC 3629 table:
    /// no overlongs, no surrogates, nothing above U+10FFFF) and steps past it.
    @inline(__always)
    private mutating func skipUTF8Sequence() throws(JSONParseError) {
        let lead = base[index]
        let length: Int
        var lowest: UInt8 = 0x80
        var highest: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lowest = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; highest = 0x9F
        case 0xF0: length = 4; lowest = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; highest = 0x8F
        default: throw fail(.invalidUTF8, at: index)
        }
        guard count - index >= length else { throw fail(.invalidUTF8, at: index) }
        let second = base[index + 1]
        guard second >= lowest && second <= highest else { throw fail(.invalidUTF8, at: index) }
        if length > 2 {
            guard base[index + 2] & 0xC0 == 0x80 else { throw fail(.invalidUTF8, at: index) }
            if length > 3 {
                guard base[index + 3] & 0xC0 == 0x80 else { throw fail(.invalidUTF8, at: index) }
            }
        }
        index += length
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        let negative = base[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < count, isDigit(base[index]) else { throw fail(.invalidNumber, at: start) }

        // Integer part, accumulated as we go; 18 decimal digits cannot overflow UInt64.
        var magnitude: UInt64 = 0
        let digitsStart = index
        if base[index] == UInt8(ascii: "0") {
            index += 1
            if index < count && isDigit(base[index]) { throw fail(.leadingZero, at: start) }
        } else {
            while index < count, isDigit(base[index]) {
                magnitude = magnitude &* 10 &+ UInt64(base[index] &- UInt8(ascii: "0"))
                index += 1
            }
        }
        let integerDigits = index - digitsStart

        var isInteger = true
        if index < count && base[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < count, isDigit(base[index]) else { throw fail(.invalidNumber, at: start) }
            while index < count, isDigit(base[index]) { index += 1 }
        }
        if index < count && (base[index] == UInt8(ascii: "e") || base[index] == UInt8(ascii: "E")) {
            isInteger = false
            index += 1
            if index < count && (base[index] == UInt8(ascii: "+") || base[index] == UInt8(ascii: "-")) { index += 1 }
            guard index < count, isDigit(base[index]) else { throw fail(.invalidNumber, at: start) }
            while index < count, isDigit(base[index]) { index += 1 }
        }

        if isInteger {
            if integerDigits <= 18 {
                return .int(negative ? -Int64(magnitude) : Int64(magnitude))
            }
            if let exact = exactInteger(digitsStart: digitsStart, negative: negative) {
                return .int(exact)
            }
        }
        // Fractions, exponents and integers beyond Int64. The text is already known to
        // follow the JSON grammar, which Double's parser accepts as is.
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
        guard let d = Double(text) else { throw fail(.invalidNumber, at: start) }
        // 1e400 would become infinity, which JSON cannot carry back out: refuse it
        // here rather than answer with a silently different value later.
        guard d.isFinite else { throw fail(.numberOutOfRange, at: start) }
        return .double(d)
    }

    /// An integer of 19 or more digits, if it fits in Int64.
    private func exactInteger(digitsStart: Int, negative: Bool) -> Int64? {
        // Accumulate negatively so that Int64.min, whose magnitude has no positive Int64, fits.
        var value: Int64 = 0
        for i in digitsStart..<index {
            let digit = Int64(base[i] &- UInt8(ascii: "0"))
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.subtractingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    @inline(__always)
    private func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }
}
