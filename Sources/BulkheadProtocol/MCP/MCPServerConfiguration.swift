/// Tunables of ``MCPServer`` that the CLI does not need to set.
public struct MCPServerConfiguration: Sendable {
    /// Tools per `tools/list` page.
    public var toolsPageSize: Int
    /// `ttlMs` on stateless-era `tools/list` results: how long a client may reuse the list.
    /// 0 (immediately stale) by default, like the Python SDK, because plugins and policies can change.
    public var toolsListTTLMilliseconds: Int64
    /// `ttlMs` on `server/discover` results.
    public var discoverTTLMilliseconds: Int64
    /// Values (scalars, arrays, objects at any depth) one incoming message may hold;
    /// past it the message is refused (-32600) before its tree is built. Bounds what
    /// one message costs in memory, whatever its shape.
    public var maxMessageElements: Int
    /// Tool calls of this connection in flight at once; at the limit the transport
    /// reads no more messages until one ends (``MCPServer/waitForCallRoom()``).
    /// Bounds what a client that pipelines calls to a slow tool makes the server hold.
    public var maxCallsInFlight: Int

    public static let defaultMaxMessageElements = 1_000_000
    public static let defaultMaxCallsInFlight = 1024

    public init(toolsPageSize: Int = 200, toolsListTTLMilliseconds: Int64 = 0, discoverTTLMilliseconds: Int64 = 0,
                maxMessageElements: Int = MCPServerConfiguration.defaultMaxMessageElements,
                maxCallsInFlight: Int = MCPServerConfiguration.defaultMaxCallsInFlight)
    {
        precondition(toolsPageSize > 0, "toolsPageSize must be positive")
        precondition(toolsListTTLMilliseconds >= 0 && discoverTTLMilliseconds >= 0, "ttlMs must not be negative")
        precondition(maxMessageElements > 0 && maxCallsInFlight > 0, "limits must be positive")
        self.toolsPageSize = toolsPageSize
        self.toolsListTTLMilliseconds = toolsListTTLMilliseconds
        self.discoverTTLMilliseconds = discoverTTLMilliseconds
        self.maxMessageElements = maxMessageElements
        self.maxCallsInFlight = maxCallsInFlight
    }
}
