/// How a plugin's tool is named on the wire.
///
/// Claude Desktop, GitHub Copilot and OpenAI-style model APIs accept only
/// `^[a-zA-Z0-9_-]{1,64}$` as a tool name, so the default joins plugin and tool
/// with `__` (`docs__search`), the convention MCP hosts such as Claude Code use
/// for their own prefixes. It is collision-free by construction: a plugin name
/// never contains `__` nor ends with `_` (the manifest's rule), so the first
/// `__` of a served name is always the separator, and two (plugin, tool) pairs
/// can never give the same name. The dotted form (`docs.search`, which the MCP
/// specification allows) is kept for clients known to accept it.
public enum ToolNaming: String, Sendable, CaseIterable {
    /// `<plugin>__<tool>`: accepted by every client.
    case underscore
    /// `<plugin>.<tool>`: for clients that accept the specification's full set
    /// (the official SDKs, the MCP Inspector); refused by Claude Desktop.
    case dotted

    /// The longest served name every client accepts.
    public static let maxLength = 64

    public var separator: String {
        switch self {
        case .underscore: "__"
        case .dotted: "."
        }
    }

    /// The name clients see for `tool` of `plugin`.
    public func servedName(plugin: String, tool: String) -> String {
        plugin + separator + tool
    }

    /// Why `tool` of `plugin` cannot be served under this naming, or nil when it can.
    func problem(plugin: String, tool: String) -> String? {
        let served = servedName(plugin: plugin, tool: tool)
        let length = served.utf8.count
        guard length > Self.maxLength else { return nil }
        return "tool '\(tool)' would be served as '\(served)', \(length) characters; clients accept at most \(Self.maxLength) (shorten the plugin or tool name)"
    }

    /// Parses the configuration's or command line's spelling.
    public init?(setting: String) {
        guard let value = Self.allCases.first(where: { $0.rawValue.isExactly(setting) }) else { return nil }
        self = value
    }
}
