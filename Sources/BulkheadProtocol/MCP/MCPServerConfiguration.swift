/// Tunables of ``MCPServer`` that the CLI does not need to set.
public struct MCPServerConfiguration: Sendable {
    /// Tools per `tools/list` page.
    public var toolsPageSize: Int
    /// `ttlMs` on stateless-era `tools/list` results: how long a client may reuse the list.
    /// 0 (immediately stale) by default, like the Python SDK, because plugins and policies can change.
    public var toolsListTTLMilliseconds: Int64
    /// `ttlMs` on `server/discover` results.
    public var discoverTTLMilliseconds: Int64

    public init(toolsPageSize: Int = 200, toolsListTTLMilliseconds: Int64 = 0, discoverTTLMilliseconds: Int64 = 0) {
        precondition(toolsPageSize > 0, "toolsPageSize must be positive")
        precondition(toolsListTTLMilliseconds >= 0 && discoverTTLMilliseconds >= 0, "ttlMs must not be negative")
        self.toolsPageSize = toolsPageSize
        self.toolsListTTLMilliseconds = toolsListTTLMilliseconds
        self.discoverTTLMilliseconds = discoverTTLMilliseconds
    }
}
