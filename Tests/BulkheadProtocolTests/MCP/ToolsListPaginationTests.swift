import Testing

@testable import BulkheadProtocol

@Suite("MCPServer, tools/list pagination")
struct ToolsListPaginationTests {
    /// Walks every page; returns the tool names in order and the number of pages.
    private func listAll(_ h: Harness, meta: JSONValue? = nil) -> (names: [String], pages: Int) {
        var names: [String] = []
        var cursor: JSONValue?
        var pages = 0
        repeat {
            var params = JSONObject()
            if let cursor { params["cursor"] = cursor }
            if let meta { params["_meta"] = meta }
            pages += 1
            let result = h.call(.string("page-\(pages)"), "tools/list", .object(params)).result
            names += result?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            cursor = result?["nextCursor"]
            if pages > 100 { break }
        } while cursor != nil
        return (names, pages)
    }

    @Test func defaultPagesOf200InProviderOrder() {
        let h = Harness(provider: TestToolProvider(fillerCount: 442))
        let expected = h.provider.tools(for: RequestContext(era: .handshake(version: "x"))).map(\.name)
        #expect(expected.count == 450)
        let (names, pages) = listAll(h)
        #expect(pages == 3)
        #expect(names == expected)
    }

    @Test func pageSizeIsConfigurable() {
        let h = Harness(
            provider: TestToolProvider(fillerCount: 3), configuration: MCPServerConfiguration(toolsPageSize: 2))
        let (names, pages) = listAll(h, meta: modernMeta())
        #expect(pages == 6)
        #expect(names.count == 11)
        #expect(Set(names).count == 11)
    }

    @Test func exactlyOnePageHasNoCursor() {
        let h = Harness(provider: TestToolProvider(fillerCount: 200 - TestToolProvider.fixedTools.count))
        let result = h.call(1, "tools/list").result
        #expect(result?["tools"]?.arrayValue?.count == 200)
        #expect(result?["nextCursor"] == nil)
    }

    @Test func cursorsAreOpaqueStrings() {
        let h = Harness(provider: TestToolProvider(fillerCount: 300))
        let cursor = h.call(1, "tools/list").result?["nextCursor"]?.stringValue
        #expect(cursor != nil)
        #expect(cursor?.contains("200") == false, "the offset is not spelled out")
    }

    @Test(arguments: [
        "garbage", "", "bh1.", "bh1.5k", "bh1.5k.0000000000000000", "bh1.-1.0000000000000000", "bh1.zzzzzz.00",
    ])
    func cursorsNotIssuedAreRefused(cursor: String) {
        let h = Harness(provider: TestToolProvider(fillerCount: 300))
        let response = h.call(1, "tools/list", ["cursor": .string(cursor)])
        #expect(response.errorCode == -32602)
    }

    @Test func tamperedCursorsAreRefused() throws {
        let h = Harness(provider: TestToolProvider(fillerCount: 300))
        let cursor = try #require(h.call(1, "tools/list").result?["nextCursor"]?.stringValue)
        var bytes = Array(cursor.utf8)
        bytes[bytes.count - 1] = bytes[bytes.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let tampered = String(decoding: bytes, as: UTF8.self)
        #expect(h.call(2, "tools/list", ["cursor": .string(tampered)]).errorCode == -32602)
        // The genuine one still works, in either era.
        #expect(h.call(3, "tools/list", ["cursor": .string(cursor)]).result != nil)
        #expect(h.call(4, "tools/list", ["cursor": .string(cursor), "_meta": modernMeta()]).result != nil)
    }

    @Test func aCursorForAListThatChangedIsRefused() throws {
        let before = Harness(provider: TestToolProvider(fillerCount: 300, namePrefix: "tool_"))
        let cursor = try #require(before.call(1, "tools/list").result?["nextCursor"]?.stringValue)
        // Same process, another list (another caller or a reload): the position holds another tool.
        let after = Harness(provider: TestToolProvider(fillerCount: 300, namePrefix: "other_"))
        #expect(after.call(2, "tools/list", ["cursor": .string(cursor)]).errorCode == -32602)
    }

    @Test func cursorMustBeAString() {
        let h = Harness()
        #expect(h.call(1, "tools/list", ["cursor": 5]).errorCode == -32602)
        #expect(h.call(2, "tools/list", ["cursor": nil]).result != nil, "null means first page")
    }

    @Test func emptyList() {
        struct NoTools: ToolProvider {
            func tools(for context: RequestContext) -> [ToolDescriptor] { [] }
            func callTool(name: String, arguments: JSONObject, context: RequestContext,
                          complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?
            {
                complete(.unknownTool(name))
                return nil
            }
        }
        let sink = RecordingSink()
        let server = MCPServer(identity: testIdentity, provider: NoTools(), principal: nil, sink: sink, log: { _ in })
        server.receive(requestJSON(id: 1, method: "tools/list"))
        #expect(sink.response(to: 1).result == ["tools": []])
        server.receive(requestJSON(id: 2, method: "tools/list", params: ["cursor": "bh1.1.0000000000000000"]))
        #expect(sink.response(to: 2).errorCode == -32602)
    }
}
