/// Writes the result objects of MCP methods, in the shape each era requires,
/// straight into the response buffer.
///
/// Stateless-era (2026-07-28) results all carry `resultType:"complete"` and
/// the server identity in `_meta["io.modelcontextprotocol/serverInfo"]`;
/// cacheable ones (`server/discover`, `tools/list`) also carry `ttlMs` and
/// `cacheScope`. The parts that never change are rendered once, at start-up.
struct MCPResultWriter: Sendable {
    /// `{"name":…,"version":…,"title":…}`.
    private let serverInfo: [UInt8]
    /// `"resultType":"complete","_meta":{"io.modelcontextprotocol/serverInfo":{…}}`, without braces.
    private let statelessMembers: [UInt8]
    /// The whole `server/discover` result; it depends on nothing in the request.
    let discoverResult: [UInt8]
    private let instructions: String?
    private let toolsListTTL: Int64
    /// The `capabilities` object both eras announce.
    private let capabilities: [UInt8]

    init(identity: ServerIdentity, configuration: MCPServerConfiguration, resources: Bool = false, prompts: Bool = false,
         completions: Bool = false, subscriptions: Bool = false) {
        var info: [UInt8] = []
        info.appendLiteral(#"{"name":"#)
        JSONOutput.writeString(identity.name, into: &info)
        info.appendLiteral(#","version":"#)
        JSONOutput.writeString(identity.version, into: &info)
        if let title = identity.title {
            info.appendLiteral(#","title":"#)
            JSONOutput.writeString(title, into: &info)
        }
        info.append(UInt8(ascii: "}"))
        serverInfo = info

        var members: [UInt8] = []
        members.appendLiteral(#""resultType":"complete","_meta":{"#)
        JSONOutput.writeString(MCPProtocol.serverInfoKey, into: &members)
        members.append(UInt8(ascii: ":"))
        members.append(contentsOf: info)
        members.append(UInt8(ascii: "}"))
        statelessMembers = members

        instructions = identity.instructions
        toolsListTTL = configuration.toolsListTTLMilliseconds
        var caps: [UInt8] = []
        caps.appendLiteral(#"{"tools":{"listChanged":false},"logging":{}"#)
        if resources {
            if subscriptions {
                caps.appendLiteral(#","resources":{"subscribe":true,"listChanged":false}"#)
            } else {
                caps.appendLiteral(#","resources":{"subscribe":false,"listChanged":false}"#)
            }
        }
        if prompts { caps.appendLiteral(#","prompts":{"listChanged":false}"#) }
        if completions { caps.appendLiteral(#","completions":{}"#) }
        caps.append(UInt8(ascii: "}"))
        capabilities = caps

        var discover: [UInt8] = []
        discover.appendLiteral(#"{"supportedVersions":["#)
        for (i, version) in MCPProtocol.supportedVersions.enumerated() {
            if i > 0 { discover.append(UInt8(ascii: ",")) }
            JSONOutput.writeString(version, into: &discover)
        }
        discover.appendLiteral(#"],"capabilities":"#)
        discover.append(contentsOf: caps)
        if let instructions = identity.instructions {
            discover.appendLiteral(#","instructions":"#)
            JSONOutput.writeString(instructions, into: &discover)
        }
        discover.appendLiteral(#","ttlMs":"#)
        JSONOutput.writeInteger(configuration.discoverTTLMilliseconds, into: &discover)
        discover.appendLiteral(#","cacheScope":"private","#)
        discover.append(contentsOf: members)
        discover.append(UInt8(ascii: "}"))
        discoverResult = discover
    }

    /// Closes a result object: the stateless stamp when needed, then `}`.
    @inline(__always)
    private func finish(stateless: Bool, wroteMembers: Bool, into out: inout [UInt8]) {
        if stateless {
            if wroteMembers { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: statelessMembers)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `initialize` (handshake era only).
    func initializeResult(protocolVersion: String, into out: inout [UInt8]) {
        out.appendLiteral(#"{"protocolVersion":"#)
        JSONOutput.writeString(protocolVersion, into: &out)
        out.appendLiteral(#","capabilities":"#)
        out.append(contentsOf: capabilities)
        out.appendLiteral(#","serverInfo":"#)
        out.append(contentsOf: serverInfo)
        if let instructions {
            out.appendLiteral(#","instructions":"#)
            JSONOutput.writeString(instructions, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `{}` (e.g. `ping`), stamped in the stateless era.
    func emptyResult(stateless: Bool, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        finish(stateless: stateless, wroteMembers: false, into: &out)
    }

    /// One page of `tools/list`.
    func toolsList(_ page: ArraySlice<ToolDescriptor>, nextCursor: String?, stateless: Bool, into out: inout [UInt8]) {
        out.appendLiteral(#"{"tools":["#)
        var first = true
        for tool in page {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            writeTool(tool, into: &out)
        }
        out.append(UInt8(ascii: "]"))
        if let nextCursor {
            out.appendLiteral(#","nextCursor":"#)
            JSONOutput.writeString(nextCursor, into: &out)
        }
        if stateless {
            out.appendLiteral(#","ttlMs":"#)
            JSONOutput.writeInteger(toolsListTTL, into: &out)
            // Private: the list depends on who asks (each plugin's policy filters it).
            out.appendLiteral(#","cacheScope":"private""#)
        }
        finish(stateless: stateless, wroteMembers: true, into: &out)
    }

    private func writeTool(_ tool: ToolDescriptor, into out: inout [UInt8]) {
        out.appendLiteral(#"{"name":"#)
        JSONOutput.writeString(tool.name, into: &out)
        if let title = tool.title {
            out.appendLiteral(#","title":"#)
            JSONOutput.writeString(title, into: &out)
        }
        if let description = tool.description {
            out.appendLiteral(#","description":"#)
            JSONOutput.writeString(description, into: &out)
        }
        out.appendLiteral(#","inputSchema":"#)
        tool.inputSchema.serialize(into: &out)
        if let outputSchema = tool.outputSchema {
            out.appendLiteral(#","outputSchema":"#)
            outputSchema.serialize(into: &out)
        }
        if let annotations = tool.annotations {
            out.appendLiteral(#","annotations":"#)
            annotations.serialize(into: &out)
        }
        if let meta = tool.meta {
            out.appendLiteral(#","_meta":"#)
            meta.serialize(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `tools/call`: MCP's CallToolResult.
    /// A 2026-07-28 `input_required` result of `tools/call`.
    func inputRequired(_ requests: JSONObject, requestState: String, into out: inout [UInt8]) {
        out.appendLiteral(#"{"resultType":"input_required","inputRequests":"#)
        JSONValue.object(requests).serialize(into: &out)
        out.appendLiteral(#","requestState":"#)
        JSONOutput.writeString(requestState, into: &out)
        out.appendLiteral(#","_meta":{"#)
        JSONOutput.writeString(MCPProtocol.serverInfoKey, into: &out)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: serverInfo)
        out.appendLiteral("}}")
    }

    func toolResult(_ result: ToolResult, stateless: Bool, into out: inout [UInt8]) {
        out.appendLiteral(#"{"content":["#)
        var first = true
        for block in result.content {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            block.serialize(into: &out)
        }
        out.append(UInt8(ascii: "]"))
        if let structured = result.structuredContent {
            out.appendLiteral(#","structuredContent":"#)
            structured.serialize(into: &out)
        }
        if result.isError {
            out.appendLiteral(#","isError":true"#)
        }
        guard stateless else {
            if let meta = result.meta {
                out.appendLiteral(#","_meta":"#)
                meta.serialize(into: &out)
            }
            out.append(UInt8(ascii: "}"))
            return
        }
        guard let meta = result.meta, !meta.isEmpty else {
            finish(stateless: true, wroteMembers: true, into: &out)
            return
        }
        out.appendLiteral(#","resultType":"complete","_meta":"#)
        if meta[MCPProtocol.serverInfoKey] != nil {
            // A provider that names the server itself is believed (as in the Python SDK).
            meta.serialize(into: &out)
        } else {
            out.append(UInt8(ascii: "{"))
            JSONOutput.writeString(MCPProtocol.serverInfoKey, into: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: serverInfo)
            meta.serializeMembers(into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Any other result: `members`, then in the stateless era the cache hints (when
    /// `ttl` is set: a list or a read) and the stamp, with `meta` beside the server's.
    func object(_ members: JSONObject, meta: JSONObject?, ttl: Int64?, stateless: Bool, into out: inout [UInt8]) {
        var body: [UInt8] = []
        members.serializeMembers(into: &body)
        if stateless, let ttl {
            body.appendLiteral(#","ttlMs":"#)
            JSONOutput.writeInteger(ttl, into: &body)
            // Private: every list and read depends on who asks (each plugin's policy filters it).
            body.appendLiteral(#","cacheScope":"private""#)
        }
        if stateless {
            body.appendLiteral(#","resultType":"complete","_meta":{"#)
            JSONOutput.writeString(MCPProtocol.serverInfoKey, into: &body)
            body.append(UInt8(ascii: ":"))
            body.append(contentsOf: serverInfo)
            meta?.serializeMembers(into: &body, skipping: MCPProtocol.serverInfoKey)
            body.append(UInt8(ascii: "}"))
        } else if let meta, !meta.isEmpty {
            body.appendLiteral(#","_meta":"#)
            meta.serialize(into: &body)
        }
        // Every part above starts with a comma: the first one's is dropped.
        out.append(UInt8(ascii: "{"))
        out.append(contentsOf: body.dropFirst())
        out.append(UInt8(ascii: "}"))
    }
}
