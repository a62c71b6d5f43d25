import Testing

@testable import BulkheadProtocol

@Suite("Era detection and MCP logging")
struct EraDetectionTests {
    @Test func aReservedMetaKeyWithoutAVersionIsRefusedNotServedAsHandshake() {
        let h = Harness()
        let r = h.call(1, "tools/list", ["_meta": ["io.modelcontextprotocol/clientCapabilities": [:]]])
        #expect(r.errorCode == -32602)
        #expect(r.errorMessage?.contains("io.modelcontextprotocol/protocolVersion") == true)
        let r2 = h.call(2, "tools/list", ["_meta": ["io.modelcontextprotocol/logLevel": "info"]])
        #expect(r2.errorCode == -32602)
    }

    @Test func otherMetaKeysKeepTheHandshakeEra() {
        let h = Harness()
        let r = h.call(1, "tools/list", ["_meta": ["progressToken": 5, "example.com/x": true]])
        #expect(r.result?["tools"] != nil)
        #expect(r.result?["resultType"] == nil)
    }

    @Test func setLevelIsAHandshakeMethodOnly() {
        let h = Harness()
        #expect(h.call(1, "logging/setLevel", ["level": "warning"]).result == [:])
        #expect(h.call(2, "logging/setLevel", ["level": "loud"]).errorCode == -32602)
        let modern = h.call(3, "logging/setLevel", [
            "level": "info",
            "_meta": ["io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": [:]],
        ])
        #expect(modern.errorCode == -32601)
    }

    @Test func anUnknownLogLevelInTheEnvelopeIsRefused() {
        let h = Harness()
        let r = h.call(1, "tools/list", ["_meta": [
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": [:],
            "io.modelcontextprotocol/logLevel": "chatty",
        ]])
        #expect(r.errorCode == -32602)
    }

    @Test func logLevelsOrderAsRFC5424() {
        #expect(MCPLogLevel(name: "debug")! < MCPLogLevel(name: "emergency")!)
        #expect(MCPLogLevel.allCases.map(\.name) == ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"])
        #expect(MCPLogLevel(name: "Info") == nil)
    }

    @Test func envelopeProblemsNameWhatIsMissing() {
        #expect(MCPServer.statelessEnvelopeProblem(nil)?.code == -32602)
        #expect(MCPServer.statelessEnvelopeProblem(["_meta": ["io.modelcontextprotocol/protocolVersion": "2026-07-28"]])?
            .message.contains("clientCapabilities") == true)
        #expect(MCPServer.statelessEnvelopeProblem(["_meta": [
            "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": [:],
        ]])?.code == -32022)
        #expect(MCPServer.statelessEnvelopeProblem(["_meta": [
            "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": [:],
        ]]) == nil)
    }
}
