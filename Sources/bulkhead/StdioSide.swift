import BulkheadProtocol

/// The stdio endpoint: one client on stdin/stdout, served as one principal,
/// alone or beside the HTTP listener.
struct StdioSide: Sendable {
    let transport: StdioTransport
    let server: MCPServer
    let drain: Duration

    /// Serves until stdin ends or a drain is requested, then drains and returns.
    func run() {
        transport.run(server: server, drainTimeout: drain)
    }
}
