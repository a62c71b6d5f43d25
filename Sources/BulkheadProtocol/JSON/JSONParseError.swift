/// Why a byte sequence is not the one JSON text RFC 8259 allows, and where.
///
/// The offset is a byte offset into the input, so a client (or an operator
/// reading the log) can find the fault in the line it sent.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// The input holds no value at all (empty or only whitespace).
        case emptyInput
        /// The input ends inside a value.
        case unexpectedEnd
        /// A byte that cannot start or continue a value here.
        case unexpectedByte(UInt8)
        /// A complete value is followed by more than whitespace.
        case trailingCharacters
        /// `,` directly before `]` or `}`.
        case trailingComma
        /// An object member name is missing (something other than a string where a key belongs).
        case expectedKey
        /// A key is not followed by `:`.
        case expectedColon
        /// A member or element is followed by something other than `,` or the closing bracket.
        case expectedCommaOrEnd
        /// `01`, `-00`: RFC 8259 numbers have no leading zeros.
        case leadingZero
        /// A number that breaks the grammar (`-`, `1.`, `1e`, `.5`).
        case invalidNumber
        case numberOutOfRange
        /// An unescaped byte below 0x20 inside a string.
        case controlCharacterInString(UInt8)
        /// A backslash followed by something other than `"\/bfnrtu`.
        case invalidEscape
        /// `\u` not followed by four hex digits.
        case invalidUnicodeEscape
        /// A `\u` escape of a UTF-16 surrogate that is not part of a valid pair.
        case loneSurrogate
        /// Bytes that are not well-formed UTF-8 (overlong, surrogate, truncated, or > U+10FFFF).
        case invalidUTF8
        /// Arrays and objects nested deeper than the limit.
        case tooDeep(limit: Int)
        /// More values (scalars, arrays and objects, at any depth) than the caller's budget.
        case tooManyElements(limit: Int)
        /// `tru`, `nul`, `falsy`…
        case invalidLiteral
    }

    public var reason: Reason
    /// Byte offset of the fault, counted from the start of the input.
    public var offset: Int

    public init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String {
        "\(reasonText) at byte offset \(offset)"
    }

    private var reasonText: String {
        switch reason {
        case .emptyInput: "no JSON value"
        case .unexpectedEnd: "unexpected end of input"
        case .unexpectedByte(let b): "unexpected \(Self.describe(b))"
        case .trailingCharacters: "unexpected data after the JSON value"
        case .trailingComma: "trailing comma"
        case .expectedKey: "expected a string member name"
        case .expectedColon: "expected ':' after member name"
        case .expectedCommaOrEnd: "expected ',' or closing bracket"
        case .leadingZero: "number with a leading zero"
        case .invalidNumber: "malformed number"
        case .numberOutOfRange: "number too large for a double"
        case .controlCharacterInString(let b): "unescaped control character \(Self.describe(b)) in string"
        case .invalidEscape: "invalid escape sequence in string"
        case .invalidUnicodeEscape: "invalid \\u escape in string"
        case .loneSurrogate: "lone UTF-16 surrogate in \\u escape"
        case .invalidUTF8: "invalid UTF-8"
        case .tooDeep(let limit): "nesting deeper than \(limit) levels"
        case .tooManyElements(let limit): "more than \(limit) values in one message"
        case .invalidLiteral: "invalid literal"
        }
    }

    private static func describe(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        let code = "0x" + (hex.count == 1 ? "0" + hex : hex)
        if byte >= 0x21 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))' (\(code))"
        }
        return "byte \(code)"
    }
}
