/// Protocol revisions and reserved `_meta` keys of the two MCP eras this server speaks.
public enum MCPProtocol {
    /// The stateless revision: no handshake, every request carries its own `_meta` envelope.
    public static let statelessVersion = "2026-07-28"
    /// The newest handshake revision, answered when a client asks for one we do not know.
    public static let latestHandshakeVersion = "2025-11-25"
    /// Handshake revisions whose `initialize` request is echoed back as is.
    public static let handshakeVersions: [String] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    /// Every revision served, newest first: `server/discover`'s `supportedVersions` and
    /// the `supported` list of a -32022 error.
    public static let supportedVersions: [String] = [statelessVersion, latestHandshakeVersion]
    /// Revisions served statelessly.
    public static let statelessVersions: [String] = [statelessVersion]

    /// The `_meta` key namespace MCP reserves; any key of it marks a stateless-era request.
    public static let reservedMetaPrefix = "io.modelcontextprotocol/"
    /// `_meta` key of a request's protocol version; its presence marks a stateless-era request.
    public static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    /// `_meta` key of a request's client capabilities (required in the stateless era).
    public static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    /// `_meta` key of a request's client info (recommended in the stateless era).
    public static let clientInfoKey = "io.modelcontextprotocol/clientInfo"
    /// `_meta` key of a request's log level opt-in.
    public static let logLevelKey = "io.modelcontextprotocol/logLevel"
    /// `_meta` key of the server identity stamped on every stateless-era result.
    public static let serverInfoKey = "io.modelcontextprotocol/serverInfo"
}
