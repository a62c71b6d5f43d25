#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import Logging
import Synchronization

/// How log lines are written to stderr.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `TIME LEVEL LABEL key=value…: message`, for people.
    case text
    /// One JSON object per line: time, level, label, message, metadata; for log shippers.
    case json
}

/// The log handler of `serve` and `check`: one line per event on stderr,
/// as text or JSON. Everything that varies is escaped so a line is always
/// exactly one line: a message with a newline in it stays on its line.
public struct OperatorLogHandler: LogHandler {
    public let label: String
    public let format: LogFormat
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: @Sendable (String) -> Void

    public init(label: String, format: LogFormat, level: Logger.Level,
                sink: @escaping @Sendable (String) -> Void = OperatorLogHandler.standardError) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        sink(Self.line(time: Timestamp.now(), level: event.level, label: label,
                       message: event.message.description, metadata: merged, format: format))
    }

    /// Keys shown first in text lines, in this order (who, what, how it went); the rest follow sorted.
    static let leadingKeys = ["plugin", "principal", "tenant", "tool", "outcome", "kind", "ms"]

    /// One log line, without its newline.
    public static func line(time: String, level: Logger.Level, label: String, message: String,
                            metadata: Logger.Metadata, format: LogFormat) -> String {
        switch format {
        case .json:
            var fields = JSONObject()
            for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { fields[key] = json(value) }
            let object: JSONObject = [
                "time": .string(time), "level": .string(level.rawValue), "label": .string(label),
                "message": .string(message), "metadata": .object(fields),
            ]
            return String(decoding: JSONValue.object(object).serialized(), as: UTF8.self)
        case .text:
            var out = time + " " + level.rawValue + " " + LogText.escaped(label)
            let keys = leadingKeys.filter { metadata[$0] != nil }
                + metadata.keys.filter { !leadingKeys.contains($0) }.sorted()
            for key in keys {
                out += " " + LogText.escaped(key) + "=" + quoted(flat(metadata[key]!))
            }
            return out + ": " + LogText.escaped(message)
        }
    }

    /// A metadata value on one line: quoted when it holds a space, '=', ':' or a
    /// quote, so that `key=value` pairs and the message separator stay unambiguous.
    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && !value.unicodeScalars.contains {
            $0 == " " || $0 == "=" || $0 == ":" || $0 == "\"" || $0 == "\\" || LogText.needsEscape($0)
        }
        if plain { return value }
        let inner = value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
        return "\"" + LogText.escaped(inner) + "\""
    }

    private static func flat(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let items): "[" + items.map(flat).joined(separator: ",") + "]"
        case .dictionary(let d): "{" + d.sorted { $0.key < $1.key }.map { "\($0.key)=\(flat($0.value))" }.joined(separator: ",") + "}"
        }
    }

    private static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .stringConvertible(let c):
            if let i = c as? Int { return .int(Int64(i)) }
            if let d = c as? Double { return d.isFinite ? .double(d) : .string(c.description) }
            if let b = c as? Bool { return .bool(b) }
            return .string(c.description)
        case .array(let items): return .array(items.map(json))
        case .dictionary(let d):
            var o = JSONObject()
            for (k, v) in d.sorted(by: { $0.key < $1.key }) { o[k] = json(v) }
            return .object(o)
        }
    }

    /// Writes each line with one write(2) under a lock, so lines from different threads never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        bytes.append(10)
        stderrLock.withLock { _ in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(2, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += n
                }
            }
        }
    }
}

private let stderrLock = Mutex(())
