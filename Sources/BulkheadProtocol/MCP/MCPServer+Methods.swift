/// The methods answered on the spot: `initialize`, `server/discover`, `tools/list`.
extension MCPServer {
    /// Handshake era: echo a known handshake version (else answer the latest) and
    /// remember the client's version and capabilities for this connection.
    func initialize(id: JSONRPCID, params: JSONObject?) {
        guard case .string(let requested)? = params?["protocolVersion"] else {
            sendError(id: id, .invalidParams("initialize needs params.protocolVersion as a string"))
            return
        }
        var capabilities = JSONObject()
        switch params?["capabilities"] {
        case nil, .null?: break
        case .object(let o)?: capabilities = o
        default:
            sendError(id: id, .invalidParams("initialize params.capabilities must be an object"))
            return
        }
        let clientInfo = params?["clientInfo"]?.objectValue
        let negotiated =
            MCPProtocol.handshakeVersions.contains(requested) ? requested : MCPProtocol.latestHandshakeVersion
        state.withLock {
            $0.session = HandshakeSession(
                protocolVersion: negotiated, clientCapabilities: capabilities, clientInfo: clientInfo,
                initialized: false)
        }
        sendResult(id: id) { results.initializeResult(protocolVersion: negotiated, into: &$0) }
    }

    /// Stateless era only: the versions, capabilities and identity of this server.
    func discover(id: JSONRPCID, context: RequestContext) {
        guard context.era.isStateless else {
            sendError(id: id, Self.missingEnvelopeError)
            return
        }
        sendResult(id: id, capacity: results.discoverResult.count + 48) { $0.append(contentsOf: results.discoverResult) }
    }

    /// One page of the provider's list for this caller, in the provider's order.
    func listTools(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        let tools = provider.tools(for: context)
        var offset = 0
        switch params?["cursor"] {
        case nil, .null?:
            break
        case .string(let cursor)?:
            guard let at = ToolListCursor.offset(of: cursor, in: tools) else {
                sendError(id: id, .invalidParams("Invalid cursor: not issued by this server for this list"))
                return
            }
            offset = at
        default:
            sendError(id: id, .invalidParams("tools/list params.cursor must be a string"))
            return
        }
        let end = offset + min(configuration.toolsPageSize, tools.count - offset)
        let nextCursor = end < tools.count ? ToolListCursor.make(offset: end, tools: tools) : nil
        sendResult(id: id, capacity: 512 * (end - offset) + 256) {
            results.toolsList(tools[offset..<end], nextCursor: nextCursor, stateless: context.era.isStateless, into: &$0)
        }
    }
}

extension MCPServer {
    /// Handshake era: `logging/setLevel {level}` sets, for this connection, the least
    /// severe plugin log line sent to the client as `notifications/message`.
    /// Removed in 2026-07-28, where each request names its own level in `_meta`.
    func setLogLevel(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard !context.era.isStateless else {
            sendError(id: id, .methodNotFound("logging/setLevel"))
            return
        }
        guard let name = params?["level"]?.stringValue, let level = MCPLogLevel(name: name) else {
            sendError(id: id, .invalidParams(
                "logging/setLevel needs params.level, one of \(MCPLogLevel.allCases.map(\.name).joined(separator: ", "))"))
            return
        }
        state.withLock { $0.session.logLevel = level }
        sendResult(id: id, capacity: 48) { results.emptyResult(stateless: false, into: &$0) }
    }
}
