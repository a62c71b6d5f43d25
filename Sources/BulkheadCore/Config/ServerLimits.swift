import BulkheadProtocol

/// `[limits]` in bulkhead.toml: what one client connection may make the server
/// hold. Each bound is enforced where its memory would be spent: the line reader
/// (message_bytes), the parser (message_elements), the writer (unsent_bytes) and
/// the reader again (calls_in_flight).
public struct ServerLimits: Sendable, Equatable {
    /// Longest incoming message; a longer one is answered -32600 and skipped.
    public var messageBytes = StdioTransport.defaultMaxLineLength
    /// Values one message may hold (every scalar, array and object counts one).
    public var messageElements = MCPServerConfiguration.defaultMaxMessageElements
    /// Answers written but not read by the client, past which no more requests are read.
    public var unsentBytes = StdioTransport.defaultMaxUnsentBytes
    /// Tool calls in flight at once; at the limit no more messages are read until one ends.
    public var callsInFlight = MCPServerConfiguration.defaultMaxCallsInFlight

    public init() {}

    /// Each key, with the range it accepts; the same ranges bound the CLI's overrides.
    public static let ranges: [(key: String, range: ClosedRange<Int>)] = [
        ("message_bytes", 1024...(1 << 30)),
        ("message_elements", 64...100_000_000),
        ("unsent_bytes", 65_536...(1 << 30)),
        ("calls_in_flight", 1...1_000_000),
    ]

    public static func range(_ key: String) -> ClosedRange<Int> {
        ranges.first(where: { $0.key == key })!.range
    }

    private mutating func set(_ key: String, _ value: Int) {
        switch key {
        case "message_bytes": messageBytes = value
        case "message_elements": messageElements = value
        case "unsent_bytes": unsentBytes = value
        default: callsInFlight = value
        }
    }

    /// Reads a `[limits]` table, appending a problem per wrong key or value.
    static func parse(_ table: JSONObject, problems: inout [String]) -> ServerLimits {
        var limits = ServerLimits()
        let known = ranges.map(\.key)
        for key in table.keys where !known.contains(where: { $0.isExactly(key) }) {
            problems.append("[limits]: unknown key '\(key)' (known: \(known.joined(separator: ", ")))")
        }
        for (key, range) in ranges {
            guard let value = table[key] else { continue }
            if let n = value.intValue, range.contains(Int(n)) {
                limits.set(key, Int(n))
            } else {
                problems.append("[limits] \(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
        }
        return limits
    }
}
