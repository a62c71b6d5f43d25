import BulkheadProtocol

/// What the HTTP endpoint needs to make the protocol engines it serves with:
/// one per 2026-07-28 request, one per 2025-11-25 session. The endpoint knows
/// the provider only as a `ToolProvider`.
public struct MCPEngine: Sendable {
    public var identity: ServerIdentity
    public var provider: any ToolProvider
    public var configuration: MCPServerConfiguration
    public var log: @Sendable (String) -> Void
    private let template: MCPServer.Template

    public init(identity: ServerIdentity, provider: any ToolProvider, configuration: MCPServerConfiguration,
                log: @escaping @Sendable (String) -> Void) {
        self.identity = identity
        self.provider = provider
        self.configuration = configuration
        self.log = log
        self.template = MCPServer.Template(identity: identity, provider: provider, configuration: configuration, log: log)
    }

    func makeServer(principal: String?, sink: any MessageSink) -> MCPServer {
        MCPServer(template: template, principal: principal, sink: sink)
    }
}
