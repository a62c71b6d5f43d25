/// Deciding each request's era and building what the provider learns about it.
extension MCPServer {
    /// The stateless context when the request carries the 2026-07-28 envelope
    /// (validated on the same ladder, in the same words, as the Python SDK),
    /// otherwise the handshake context of this connection.
    func requestContext(id: JSONRPCID, params: JSONObject?) -> Result<RequestContext, JSONRPCErrorObject> {
        if case .object(let meta)? = params?["_meta"], let version = meta[MCPProtocol.protocolVersionKey] {
            return statelessContext(id: id, meta: meta, version: version)
        }
        let session = state.withLock { $0.session }
        return .success(
            RequestContext(
                era: .handshake(version: session.protocolVersion), clientCapabilities: session.clientCapabilities,
                clientInfo: session.clientInfo, principal: principal, requestID: id))
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
        return .success(
            RequestContext(
                era: .stateless(version: requested), clientCapabilities: capabilityObject, clientInfo: clientInfo,
                principal: principal, requestID: id))
    }

    /// The -32602 a stateless-only method gets without the envelope (Python SDK wording).
    static let missingEnvelopeError = JSONRPCErrorObject.invalidParams(
        "params._meta must be an object carrying the required '\(MCPProtocol.protocolVersionKey)' and '\(MCPProtocol.clientCapabilitiesKey)' envelope keys"
    )
}
