import Testing

@testable import BulkheadProtocol

@Suite("MCPServer, 2026-07-28 stateless era")
struct StatelessEraTests {
    private let serverInfoStamp: JSONValue = [
        "io.modelcontextprotocol/serverInfo": ["name": "bulkhead-test", "version": "9.9.9", "title": "Bulkhead Test"]
    ]

    @Test func discover() {
        let h = Harness()
        let result = h.call(1, "server/discover", ["_meta": modernMeta()]).result
        #expect(
            result
                == [
                    "supportedVersions": ["2026-07-28", "2025-11-25"],
                    "capabilities": ["tools": ["listChanged": false], "logging": [:]],
                    "instructions": "Use the tools.",
                    "ttlMs": 0,
                    "cacheScope": "private",
                    "resultType": "complete",
                    "_meta": serverInfoStamp,
                ])
        #expect(result?["ttlMs"]?.intValue != nil, "ttlMs is an integer")
    }

    @Test func discoverTTLIsConfigurable() {
        let h = Harness(configuration: MCPServerConfiguration(discoverTTLMilliseconds: 60_000))
        #expect(h.call(1, "server/discover", ["_meta": modernMeta()]).result?["ttlMs"] == 60_000)
    }

    @Test func toolsListCarriesTheCacheFields() {
        let h = Harness(configuration: MCPServerConfiguration(toolsListTTLMilliseconds: 5_000))
        let result = h.call("l", "tools/list", ["_meta": modernMeta()]).result
        #expect(result?["resultType"] == "complete")
        #expect(result?["ttlMs"] == 5_000)
        #expect(result?["cacheScope"] == "private")
        #expect(result?["_meta"] == serverInfoStamp)
        #expect(result?["tools"]?.arrayValue?.count == TestToolProvider.fixedTools.count)
        #expect(result?["nextCursor"] == nil)
    }

    @Test func toolCallBuildsTheContextFromTheEnvelope() {
        let h = Harness()
        let capabilities: JSONValue = ["elicitation": ["form": [:], "url": [:]]]
        let result = h.call(
            7, "tools/call",
            ["name": "echo", "arguments": ["text": "hi"], "_meta": modernMeta(capabilities: capabilities)]
        ).result
        #expect(result?["content"] == [["type": "text", "text": "hi"]])
        #expect(result?["resultType"] == "complete")
        // The provider's own _meta is kept, and the server identity is added.
        #expect(
            result?["_meta"]
                == [
                    "io.modelcontextprotocol/serverInfo": ["name": "bulkhead-test", "version": "9.9.9", "title": "Bulkhead Test"],
                    "com.example/source": "test",
                ])
        let context = h.provider.lastContext
        #expect(context?.era == .stateless(version: "2026-07-28"))
        #expect(context?.clientCapabilities == capabilities.objectValue)
        #expect(context?.clientInfo == ["name": "pytest", "version": "1.0"])
        #expect(context?.principal == "alice")
        #expect(context?.requestID == .int(7))
    }

    @Test func errorResultsAreStampedToo() {
        let h = Harness()
        let result = h.call(1, "tools/call", ["name": "fail", "_meta": modernMeta()]).result
        #expect(result?["isError"] == true)
        #expect(result?["resultType"] == "complete")
        #expect(result?["_meta"] == serverInfoStamp)
    }

    @Test func aProviderThatNamesTheServerItselfIsBelieved() {
        struct SelfNaming: ToolProvider {
            func tools(for context: RequestContext) -> [ToolDescriptor] { [] }
            func callTool(name: String, arguments: JSONObject, context: RequestContext,
                          complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?
            {
                complete(.result(ToolResult(content: [], meta: ["io.modelcontextprotocol/serverInfo": ["name": "x", "version": "2"]])))
                return nil
            }
        }
        let sink = RecordingSink()
        let server = MCPServer(identity: testIdentity, provider: SelfNaming(), principal: nil, sink: sink, log: { _ in })
        server.receive(requestJSON(id: 1, method: "tools/call", params: ["name": "t", "_meta": modernMeta()]))
        #expect(sink.response(to: 1).result == ["content": [], "resultType": "complete", "_meta": ["io.modelcontextprotocol/serverInfo": ["name": "x", "version": "2"]]])
    }

    @Test func missingClientCapabilitiesNamesTheKey() {
        let h = Harness()
        let response = h.call(1, "tools/list", ["_meta": modernMeta(capabilities: nil)])
        #expect(response.errorCode == -32602)
        #expect(
            response.errorMessage
                == "params._meta is missing the required envelope key(s): io.modelcontextprotocol/clientCapabilities")
        #expect(h.provider.contexts.isEmpty, "the provider is never asked")
    }

    @Test(arguments: ["2025-11-25", "2027-01-01", "2026-07-29"])
    func unsupportedVersionsListEverySupportedVersion(version: String) {
        let h = Harness()
        let response = h.call(1, "server/discover", ["_meta": modernMeta(version: .string(version))])
        #expect(response.errorCode == -32022)
        #expect(response["error"]?["data"] == ["supported": ["2026-07-28", "2025-11-25"], "requested": .string(version)])
    }

    @Test func theVersionMustBeAString() {
        let h = Harness()
        let response = h.call(1, "tools/list", ["_meta": modernMeta(version: 20260728)])
        #expect(response.errorCode == -32602)
    }

    @Test func capabilitiesMustBeAnObject() {
        let h = Harness()
        #expect(h.call(1, "tools/list", ["_meta": modernMeta(capabilities: "all")]).errorCode == -32602)
    }

    @Test func clientInfoIsOptional() {
        let h = Harness()
        #expect(h.call(1, "tools/list", ["_meta": modernMeta(clientInfo: nil)]).result != nil)
        #expect(h.provider.lastContext?.clientInfo == nil)
    }

    @Test func pingIsNotAMethodInThisEra() {
        let h = Harness()
        let response = h.call(1, "ping", ["_meta": modernMeta()])
        #expect(response.errorCode == -32601)
    }

    @Test func unknownMethodsAreNotFound() {
        let h = Harness()
        #expect(h.call(1, "prompts/list", ["_meta": modernMeta()]).errorCode == -32601)
    }

    @Test func nothingIsInferredFromEarlierRequests() {
        let h = Harness()
        // A stateless request does not become the connection's session…
        h.call(1, "tools/list", ["_meta": modernMeta(capabilities: ["elicitation": [:]])])
        h.call(2, "tools/list")
        #expect(h.provider.lastContext?.era == .handshake(version: "2025-11-25"))
        #expect(h.provider.lastContext?.clientCapabilities.isEmpty == true)
        // …and the handshake session does not leak into stateless requests.
        h.call(3, "initialize", ["protocolVersion": "2025-11-25", "capabilities": ["sampling": [:]]])
        h.call(4, "tools/list", ["_meta": modernMeta(capabilities: [:])])
        #expect(h.provider.lastContext?.era == .stateless(version: "2026-07-28"))
        #expect(h.provider.lastContext?.clientCapabilities.isEmpty == true)
        // Each request stands alone: a bad one after good ones is still refused.
        #expect(h.call(5, "tools/list", ["_meta": modernMeta(capabilities: nil)]).errorCode == -32602)
    }

    @Test func bothErasInterleaveOnOneConnection() {
        let h = Harness()
        h.call(1, "server/discover", ["_meta": modernMeta()])
        h.call(2, "initialize", ["protocolVersion": "2025-03-26", "capabilities": [:]])
        #expect(h.call(3, "ping").result == .object([:]))
        #expect(h.call(4, "tools/call", ["name": "echo", "_meta": modernMeta()]).result?["resultType"] == "complete")
        #expect(h.call(5, "tools/call", ["name": "echo"]).result?["resultType"] == nil)
        #expect(h.provider.lastContext?.era == .handshake(version: "2025-03-26"))
    }
}
