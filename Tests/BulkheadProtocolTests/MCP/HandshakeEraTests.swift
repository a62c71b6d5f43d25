import Testing

@testable import BulkheadProtocol

@Suite("MCPServer, 2025-11-25 handshake era")
struct HandshakeEraTests {
    private let initializeParams: JSONValue = [
        "protocolVersion": "2025-06-18",
        "capabilities": ["elicitation": ["form": [:]], "roots": ["listChanged": true]],
        "clientInfo": ["name": "claude-desktop", "version": "1.2"],
    ]

    @Test func initializeEchoesAKnownVersion() {
        let h = Harness()
        let response = h.call(1, "initialize", initializeParams)
        let result = response.result
        #expect(result?["protocolVersion"] == "2025-06-18")
        #expect(result?["capabilities"] == ["tools": ["listChanged": false], "logging": [:]])
        #expect(result?["serverInfo"] == ["name": "bulkhead-test", "version": "9.9.9", "title": "Bulkhead Test"])
        #expect(result?["instructions"] == "Use the tools.")
        // Handshake-era results carry no stateless fields.
        #expect(result?["resultType"] == nil)
        #expect(result?["_meta"] == nil)
        #expect(response["jsonrpc"] == "2.0")
    }

    @Test(arguments: ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"])
    func everyHandshakeVersionIsEchoed(version: String) {
        let h = Harness()
        let result = h.call(1, "initialize", ["protocolVersion": .string(version), "capabilities": [:]]).result
        #expect(result?["protocolVersion"] == .string(version))
    }

    @Test(arguments: ["1999-01-01", "2026-07-28", "2025-11-26", ""])
    func unknownVersionsGetTheLatestHandshakeVersion(version: String) {
        let h = Harness()
        let result = h.call("init", "initialize", ["protocolVersion": .string(version), "capabilities": [:]]).result
        #expect(result?["protocolVersion"] == "2025-11-25")
    }

    @Test func theSessionIsRememberedForLaterRequests() {
        let h = Harness()
        h.call(1, "initialize", initializeParams)
        h.send(notificationJSON(method: "notifications/initialized"))
        #expect(h.sink.count == 1, "notifications get no answer")
        h.call(2, "tools/call", ["name": "echo", "arguments": ["text": "hi"]])
        let context = h.provider.lastContext
        #expect(context?.era == .handshake(version: "2025-06-18"))
        #expect(context?.clientCapabilities["elicitation"] == ["form": [:]])
        #expect(context?.clientInfo?["name"] == "claude-desktop")
        #expect(context?.principal == "alice")
        #expect(context?.requestID == .int(2))
    }

    @Test func requestsBeforeInitializeAreServedLeniently() {
        let h = Harness()
        let list = h.call(1, "tools/list")
        #expect(list.result?["tools"]?.arrayValue?.count == TestToolProvider.fixedTools.count)
        #expect(h.provider.lastContext?.era == .handshake(version: "2025-11-25"))
        #expect(h.provider.lastContext?.clientCapabilities.isEmpty == true)
        #expect(h.provider.lastContext?.clientInfo == nil)
    }

    @Test func pingAnswersEmpty() {
        let h = Harness()
        #expect(h.call(5, "ping").result == .object([:]))
        #expect(h.call("p", "ping", [:]).result == .object([:]))
    }

    @Test func initializeNeedsAVersionString() {
        let h = Harness()
        #expect(h.call(1, "initialize", ["capabilities": [:]]).errorCode == -32602)
        #expect(h.call(2, "initialize").errorCode == -32602)
        #expect(h.call(3, "initialize", ["protocolVersion": 20251125]).errorCode == -32602)
        #expect(h.call(4, "initialize", ["protocolVersion": "2025-11-25", "capabilities": []]).errorCode == -32602)
    }

    @Test func initializeWithTheModernEnvelopeIsStillTheHandshake() {
        // The Python SDK rules the same: initialize does not exist in 2026-07-28.
        let h = Harness()
        let result = h.call(
            1, "initialize",
            ["protocolVersion": "2025-11-25", "capabilities": [:], "_meta": modernMeta()]
        ).result
        #expect(result?["protocolVersion"] == "2025-11-25")
        #expect(result?["resultType"] == nil)
    }

    @Test func toolsListShapesEachTool() {
        let h = Harness()
        let tools = h.call(1, "tools/list").result?["tools"]?.arrayValue ?? []
        #expect(
            tools.first
                == [
                    "name": "echo", "title": "Echo", "description": "Returns its text.",
                    "inputSchema": ["type": "object", "properties": ["text": ["type": "string"]]],
                    "outputSchema": ["type": "object"], "annotations": ["readOnlyHint": true],
                    "_meta": ["com.example/x": 1],
                ])
        #expect(tools.dropFirst().first == ["name": "async_echo", "inputSchema": ["type": "object"]])
        // Key order as written, for deterministic output.
        #expect(tools.first?.objectValue?.keys == ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta"])
    }

    @Test func toolCallResultShape() {
        let h = Harness()
        let result = h.call(1, "tools/call", ["name": "echo", "arguments": ["text": "hello"]]).result
        #expect(result == ["content": [["type": "text", "text": "hello"]], "_meta": ["com.example/source": "test"]])

        let failed = h.call(2, "tools/call", ["name": "fail"]).result
        #expect(failed?["isError"] == true)
        #expect(failed?["structuredContent"] == ["kind": "unavailable", "retryAfterMs": 500])
    }

    @Test func serverDiscoverNeedsTheEnvelope() {
        let h = Harness()
        let response = h.call(1, "server/discover")
        #expect(response.errorCode == -32602)
        #expect(response.errorMessage?.contains("io.modelcontextprotocol/protocolVersion") == true)
        // A progress token alone in _meta is handshake-era traffic, not the envelope.
        #expect(h.call(2, "server/discover", ["_meta": ["progressToken": 1]]).errorCode == -32602)
    }

    @Test func unknownMethodsAreNotFound() {
        let h = Harness()
        let response = h.call(9, "resources/list")
        #expect(response.errorCode == -32601)
        #expect(response.errorMessage == "Method not found")
        #expect(response["error"]?["data"] == "resources/list")
    }

    @Test func unknownNotificationsAreIgnored() {
        let h = Harness()
        h.send(notificationJSON(method: "notifications/roots/list_changed"))
        h.send(notificationJSON(method: "something/else", params: ["x": 1]))
        #expect(h.sink.count == 0)
    }

    @Test func malformedMessagesGetErrorsWithNullIDs() {
        let h = Harness()
        h.send("{not json")
        h.send(#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
        h.send(#"{"jsonrpc":"2.0","id":3,"method":7}"#)
        let messages = h.sink.messages
        #expect(messages.count == 3)
        #expect(messages[0]["id"] == .null)
        #expect(messages[0].errorCode == -32700)
        #expect(messages[1]["id"] == .null)
        #expect(messages[1].errorCode == -32600)
        #expect(messages[2]["id"] == 3)
        #expect(messages[2].errorCode == -32600)
    }
}
