/// Exact comparison of names and keys, code point by code point.
///
/// Swift's `String ==` and `Hashable` follow Unicode canonical equivalence:
/// "e\u{301}" equals "\u{e9}", and the Kelvin sign "\u{212A}" equals "K". For
/// text that is right; for identifiers it is a hole — a lookalike spelling of a
/// tool name would reach the real tool, and JSON object keys that standard
/// parsers keep apart would be merged. Every name, principal, capability and
/// object key is therefore compared by its UTF-8 bytes.
extension String {
    /// True when both strings hold the same code points in the same order.
    @inlinable
    public func isExactly(_ other: String) -> Bool {
        // `==` is a byte comparison when both are ASCII or NFC, and rejects most
        // mismatches at once; the byte check then catches canonical lookalikes.
        self == other && self.utf8.elementsEqual(other.utf8)
    }
}

/// A dictionary or set key that compares and hashes by UTF-8 bytes.
public struct ExactKey: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let string: String

    @inlinable
    public init(_ string: String) { self.string = string }
    public init(stringLiteral value: String) { self.string = value }

    public var description: String { string }

    @inlinable
    public static func == (a: ExactKey, b: ExactKey) -> Bool {
        a.string.utf8.elementsEqual(b.string.utf8)
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// A dictionary keyed by exact strings, looked up with plain `String`s.
extension Dictionary where Key == ExactKey {
    @inlinable
    public subscript(exactly key: String) -> Value? {
        get { self[ExactKey(key)] }
        set { self[ExactKey(key)] = newValue }
    }
}
