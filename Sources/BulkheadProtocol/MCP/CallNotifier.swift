/// What a provider may tell the client about one call while it runs.
///
/// The protocol layer hands one to the provider only when the client asked:
/// progress when the request carried `_meta.progressToken`, log lines when the
/// client set a level (`logging/setLevel` in the handshake era, `_meta`'s
/// `io.modelcontextprotocol/logLevel` on the request in the stateless one).
/// Both are sent on the call's own stream and stop when its answer is sent.
/// Any thread.
public protocol CallNotifier: Sendable {
    /// Whether `progress` sends anything (the request carried a progress token).
    var wantsProgress: Bool { get }
    /// `notifications/progress`. A value not above the last one sent is dropped:
    /// MCP requires progress to increase.
    func progress(_ progress: Double, total: Double?, message: String?)
    /// Whether a log line of this level would be sent.
    func wantsLog(_ level: MCPLogLevel) -> Bool
    /// `notifications/message {level, logger, data}`, when `level` is at or
    /// above the client's; `logger` names who wrote it (the plugin).
    func log(_ level: MCPLogLevel, logger: String, message: String)
}

/// MCP's eight log levels (RFC 5424 severities), least severe first.
public enum MCPLogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug, info, notice, warning, error, critical, alert, emergency

    public init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public var name: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        case .alert: "alert"
        case .emergency: "emergency"
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
