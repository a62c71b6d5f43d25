import Testing

@testable import BulkheadProtocol

@Suite("JSON-RPC classification and envelopes")
struct JSONRPCMessageTests {
    private func classify(_ text: String) -> JSONRPCMessage {
        Array(text.utf8).withUnsafeBytes { JSONRPCMessage(parsing: $0) }
    }

    /// The error of an `.invalid` classification, with its id.
    private func invalid(_ text: String, sourceLocation: SourceLocation = #_sourceLocation)
        -> (id: JSONRPCID?, error: JSONRPCErrorObject)?
    {
        guard case .invalid(let id, let error) = classify(text) else {
            Issue.record("expected invalid: \(text)", sourceLocation: sourceLocation)
            return nil
        }
        return (id, error)
    }

    @Test func requests() {
        guard case .request(let id, let method, let params) = classify(
            #"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"c"}}"#)
        else {
            Issue.record("not a request")
            return
        }
        #expect(id == .int(7))
        #expect(method == "tools/list")
        #expect(params?["cursor"] == "c")

        guard case .request(let sid, _, let none) = classify(#"{"method":"ping","id":"abc","jsonrpc":"2.0"}"#) else {
            Issue.record("not a request")
            return
        }
        #expect(sid == .string("abc"))
        #expect(none == nil)

        guard case .request(_, _, let nullParams) = classify(#"{"jsonrpc":"2.0","id":1,"method":"m","params":null}"#)
        else {
            Issue.record("not a request")
            return
        }
        #expect(nullParams == nil)
    }

    @Test func notifications() {
        guard case .notification(let method, let params) = classify(
            #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#)
        else {
            Issue.record("not a notification")
            return
        }
        #expect(method == "notifications/cancelled")
        #expect(params?["requestId"] == 3)
    }

    @Test func responses() {
        guard case .response(let id, let outcome) = classify(#"{"jsonrpc":"2.0","id":"bh-1","result":{"action":"accept"}}"#)
        else {
            Issue.record("not a response")
            return
        }
        #expect(id == .string("bh-1"))
        #expect((try? outcome.get())?["action"] == "accept")

        guard case .response(let eid, let failure) = classify(
            #"{"jsonrpc":"2.0","id":"bh-2","error":{"code":-32601,"message":"nope","data":{"x":1}}}"#)
        else {
            Issue.record("not a response")
            return
        }
        #expect(eid == .string("bh-2"))
        guard case .failure(let error) = failure else {
            Issue.record("not a failure")
            return
        }
        #expect(error == JSONRPCErrorObject(code: -32601, message: "nope", data: ["x": 1]))

        guard case .response(nil, .failure(let nullIDError)) = classify(
            #"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#)
        else {
            Issue.record("error with null id is a response")
            return
        }
        #expect(nullIDError.code == -32700)
    }

    @Test func parseErrorHasNoID() {
        let found = invalid(#"{"jsonrpc":"2.0","id":1,"method":"x""#)
        #expect(found?.id == nil)
        #expect(found?.error.code == JSONRPCErrorObject.parseErrorCode)
        #expect(found?.error.message.contains("byte offset") == true)
    }

    @Test func batchesAreInvalidRequests() {
        let found = invalid(#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
        #expect(found?.id == nil)
        #expect(found?.error.code == -32600)
        #expect(found?.error.message.contains("batch") == true)
    }

    @Test(arguments: [
        (#""just a string""#, nil as JSONRPCID?),
        ("42", nil),
        (#"{"id":1,"method":"ping"}"#, .int(1)),  // no jsonrpc
        (#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#, .string("a")),
        (#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#, .int(1)),
        (#"{"jsonrpc":"2.0","id":1,"method":5}"#, .int(1)),
        (#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, nil),  // MCP: ids are never null
        (#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, nil),
        (#"{"jsonrpc":"2.0","id":1.0,"method":"ping"}"#, nil),  // strict integers, as the Python SDK
        (#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, nil),
        (#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, nil),
        (#"{"jsonrpc":"2.0","id":2,"method":"ping","params":[1]}"#, .int(2)),
        (#"{"jsonrpc":"2.0","id":2,"method":"ping","params":"x"}"#, .int(2)),
        (#"{"jsonrpc":"2.0","id":3,"method":"ping","result":{}}"#, .int(3)),
        (#"{"jsonrpc":"2.0","id":4,"result":{},"error":{"code":1,"message":"m"}}"#, .int(4)),
        (#"{"jsonrpc":"2.0","id":5,"error":{"code":"x","message":"m"}}"#, .int(5)),
        (#"{"jsonrpc":"2.0","id":6,"error":{"code":1}}"#, .int(6)),
        (#"{"jsonrpc":"2.0","result":{}}"#, nil),
        (#"{"jsonrpc":"2.0","id":null,"result":{}}"#, nil),
        (#"{"jsonrpc":"2.0","id":7}"#, .int(7)),
        (#"{"jsonrpc":"2.0"}"#, nil),
    ])
    func invalidRequests(text: String, expectedID: JSONRPCID?) {
        let found = invalid(text)
        #expect(found?.error.code == JSONRPCErrorObject.invalidRequestCode, "\(text)")
        #expect(found?.id == expectedID, "\(text)")
    }

    @Test func errorObjectsCarryTheStandardCodes() {
        #expect(JSONRPCErrorObject.parseError().code == -32700)
        #expect(JSONRPCErrorObject.invalidRequest().code == -32600)
        #expect(JSONRPCErrorObject.methodNotFound("x") == JSONRPCErrorObject(code: -32601, message: "Method not found", data: "x"))
        #expect(JSONRPCErrorObject.invalidParams("bad").code == -32602)
        #expect(JSONRPCErrorObject.internalError().code == -32603)
        let unsupported = JSONRPCErrorObject.unsupportedProtocolVersion(requested: "1999", supported: ["a", "b"])
        #expect(unsupported.code == -32022)
        #expect(unsupported.data == ["supported": ["a", "b"], "requested": "1999"])
        let missing = JSONRPCErrorObject.missingRequiredClientCapability(["elicitation": [:]])
        #expect(missing.code == -32021)
        #expect(missing.data == ["requiredCapabilities": ["elicitation": [:]]])
        #expect(JSONRPCErrorObject(json: missing.json) == missing)
    }

    @Test func envelopesAreWrittenExactly() {
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        #expect(text(JSONRPCOutput.result(id: .int(1), ["ok": true])) == #"{"jsonrpc":"2.0","id":1,"result":{"ok":true}}"#)
        #expect(
            text(JSONRPCOutput.error(id: nil, .parseError()))
                == #"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#)
        #expect(
            text(JSONRPCOutput.error(id: .string("q"), .methodNotFound("m")))
                == #"{"jsonrpc":"2.0","id":"q","error":{"code":-32601,"message":"Method not found","data":"m"}}"#)
        #expect(
            text(JSONRPCOutput.request(id: .string("bh-1"), method: "elicitation/create", params: ["message": "ok?"]))
                == #"{"jsonrpc":"2.0","id":"bh-1","method":"elicitation/create","params":{"message":"ok?"}}"#)
        #expect(
            text(JSONRPCOutput.notification(method: "notifications/progress", params: nil))
                == #"{"jsonrpc":"2.0","method":"notifications/progress"}"#)
    }
}
