/// Deciding each request's era and building what the provider learns about it.
extension MCPServer {
    /// The stateless context when the request carries the 2026-07-28 envelope
    /// (validated on the same ladder, in the same words, as the Python SDK),
    /// otherwise the handshake context of this connection.
    ///
    /// A request is a 2026-07-28 one when its `_meta` carries any key of the
    /// `io.modelcontextprotocol/` namespace, which the handshake era never sets:
    /// such a request without a protocol version is refused (-32602), not served
    /// as a handshake-era one.
    func requestContext(id: JSONRPCID, params: JSONObject?) -> Result<RequestContext, JSONRPCErrorObject> {
        let meta = params?["_meta"]?.objectValue
        if let meta, meta.keys.contains(where: { $0.hasPrefix(MCPProtocol.reservedMetaPrefix) }) {
            guard let version = meta[MCPProtocol.protocolVersionKey] else {
                return .failure(
                    .invalidParams("params._meta is missing the required envelope key(s): \(MCPProtocol.protocolVersionKey)"))
            }
            return statelessContext(id: id, meta: meta, version: version)
        }
        let session = state.withLock { $0.session }
        var context = RequestContext(
            era: .handshake(version: session.protocolVersion), clientCapabilities: session.clientCapabilities,
            clientInfo: session.clientInfo, principal: principal, requestID: id)
        context.progressToken = Self.progressToken(meta)
        context.logLevel = session.logLevel
        return .success(context)
    }

    /// `_meta.progressToken` when it is a string or an integer, as MCP requires.
    private static func progressToken(_ meta: JSONObject?) -> JSONValue? {
        switch meta?["progressToken"] {
        case .string(let s)?: .string(s)
        case .int(let n)?: .int(n)
        default: nil
        }
    }

    /// Validates the per-request envelope. Nothing from earlier requests is used:
    /// the 2026-07-28 era forbids inferring state across requests.
    private func statelessContext(id: JSONRPCID, meta: JSONObject, version: JSONValue)
        -> Result<RequestContext, JSONRPCErrorObject>
    {
        guard let capabilities = meta[MCPProtocol.clientCapabilitiesKey] else {
            return .failure(
                .invalidParams("params._meta is missing the required envelope key(s): \(MCPProtocol.clientCapabilitiesKey)"))
        }
        guard case .string(let requested) = version else {
            return .failure(.invalidParams("the protocol-version envelope value must be a string"))
        }
        guard MCPProtocol.statelessVersions.contains(requested) else {
            return .failure(.unsupportedProtocolVersion(requested: requested, supported: MCPProtocol.supportedVersions))
        }
        guard case .object(let capabilityObject) = capabilities else {
            return .failure(.invalidParams("\(MCPProtocol.clientCapabilitiesKey) must be an object"))
        }
        // clientInfo is only a SHOULD and is display-only: a malformed one is ignored, not refused.
        let clientInfo = meta[MCPProtocol.clientInfoKey]?.objectValue
        var context = RequestContext(
            era: .stateless(version: requested), clientCapabilities: capabilityObject, clientInfo: clientInfo,
            principal: principal, requestID: id)
        context.progressToken = Self.progressToken(meta)
        if let level = meta[MCPProtocol.logLevelKey] {
            guard let parsed = Self.logLevel(level) else { return .failure(Self.badLogLevelError) }
            context.logLevel = parsed
        }
        return .success(context)
    }

    static func logLevel(_ value: JSONValue) -> MCPLogLevel? {
        value.stringValue.flatMap(MCPLogLevel.init(name:))
    }

    static let badLogLevelError = JSONRPCErrorObject.invalidParams(
        "\(MCPProtocol.logLevelKey) must be one of \(MCPLogLevel.allCases.map(\.name).joined(separator: ", "))")

    /// The -32602 a stateless-only method gets without the envelope (Python SDK wording).
    static let missingEnvelopeError = JSONRPCErrorObject.invalidParams(
        "params._meta must be an object carrying the required '\(MCPProtocol.protocolVersionKey)' and '\(MCPProtocol.clientCapabilitiesKey)' envelope keys"
    )
}

extension MCPServer {
    /// What is wrong with a request that must be a 2026-07-28 one (over HTTP, the
    /// header said so), in the words `requestContext` uses; nil when its envelope
    /// is whole. The transport answers these itself, with HTTP 400.
    public static func statelessEnvelopeProblem(_ params: JSONObject?) -> JSONRPCErrorObject? {
        guard case .object(let meta)? = params?["_meta"] else { return missingEnvelopeError }
        var missing: [String] = []
        if meta[MCPProtocol.protocolVersionKey] == nil { missing.append(MCPProtocol.protocolVersionKey) }
        if meta[MCPProtocol.clientCapabilitiesKey] == nil { missing.append(MCPProtocol.clientCapabilitiesKey) }
        if !missing.isEmpty {
            return .invalidParams("params._meta is missing the required envelope key(s): \(missing.joined(separator: ", "))")
        }
        guard case .string(let requested)? = meta[MCPProtocol.protocolVersionKey] else {
            return .invalidParams("the protocol-version envelope value must be a string")
        }
        guard MCPProtocol.statelessVersions.contains(requested) else {
            return .unsupportedProtocolVersion(requested: requested, supported: MCPProtocol.supportedVersions)
        }
        guard case .object? = meta[MCPProtocol.clientCapabilitiesKey] else {
            return .invalidParams("\(MCPProtocol.clientCapabilitiesKey) must be an object")
        }
        if let level = meta[MCPProtocol.logLevelKey], logLevel(level) == nil { return badLogLevelError }
        return nil
    }
}
