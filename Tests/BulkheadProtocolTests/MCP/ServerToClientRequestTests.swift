import Synchronization
import Testing

@testable import BulkheadProtocol

@Suite("MCPServer, requests from server to client")
struct ServerToClientRequestTests {
    /// Collects the outcomes completions receive.
    final class Outcomes: Sendable {
        private let values = Mutex<[Result<JSONValue, MCPRequestError>]>([])
        var completion: @Sendable (Result<JSONValue, MCPRequestError>) -> Void {
            { [self] r in values.withLock { $0.append(r) } }
        }
        var all: [Result<JSONValue, MCPRequestError>] { values.withLock { $0 } }
    }

    @Test func aRequestIsSentAndItsAnswerRouted() throws {
        let h = Harness()
        let outcomes = Outcomes()
        let id = h.server.sendRequest(
            method: "elicitation/create",
            params: ["message": "Delete ticket 42?", "requestedSchema": ["type": "object", "properties": [:]]],
            completion: outcomes.completion)
        #expect(id == .string("bh-1"))
        let sent = try #require(h.sink.messages.first)
        #expect(sent["id"] == "bh-1")
        #expect(sent["method"] == "elicitation/create")
        #expect(sent["params"]?["message"] == "Delete ticket 42?")
        #expect(outcomes.all.isEmpty)
        #expect(h.server.pendingClientRequestCount == 1)

        h.send(#"{"jsonrpc":"2.0","id":"bh-1","result":{"action":"accept","content":{"ok":true}}}"#)
        #expect(outcomes.all.count == 1)
        let result = try #require(try? outcomes.all.first?.get())
        #expect(result == ["action": "accept", "content": ["ok": true]])
        #expect(h.server.pendingClientRequestCount == 0)
        // A second answer to the same id is ignored (and logged).
        h.send(#"{"jsonrpc":"2.0","id":"bh-1","result":{}}"#)
        #expect(outcomes.all.count == 1)
        #expect(h.logs.all.contains { $0.contains("bh-1") })
    }

    @Test func idsAreUniqueAndCannotCollideWithIntegerClientIDs() {
        let h = Harness()
        let outcomes = Outcomes()
        let ids = (0..<3).compactMap { _ in h.server.sendRequest(method: "ping", params: [:], completion: outcomes.completion) }
        #expect(ids == [.string("bh-1"), .string("bh-2"), .string("bh-3")])
        // An integer 1 from the client is not "bh-1".
        h.send(#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
        #expect(outcomes.all.isEmpty)
        // Answers can come in any order.
        h.send(#"{"jsonrpc":"2.0","id":"bh-3","result":{"n":3}}"#)
        h.send(#"{"jsonrpc":"2.0","id":"bh-2","error":{"code":-32601,"message":"Method not found"}}"#)
        #expect(outcomes.all.count == 2)
        #expect((try? outcomes.all[0].get()) == ["n": 3])
        guard case .failure(.remote(let error)) = outcomes.all[1] else {
            Issue.record("expected a remote error")
            return
        }
        #expect(error.code == -32601)
    }

    @Test func closeFailsPendingRequestsAndRefusesNewOnes() {
        let h = Harness()
        let outcomes = Outcomes()
        h.server.sendRequest(method: "elicitation/create", params: [:], completion: outcomes.completion)
        h.server.sendRequest(method: "elicitation/create", params: [:], completion: outcomes.completion)
        h.server.close()
        #expect(outcomes.all.count == 2)
        for outcome in outcomes.all {
            guard case .failure(.connectionClosed) = outcome else {
                Issue.record("expected connectionClosed, got \(outcome)")
                continue
            }
        }
        let sentBefore = h.sink.count
        let id = h.server.sendRequest(method: "elicitation/create", params: [:], completion: outcomes.completion)
        #expect(id == nil)
        #expect(outcomes.all.count == 3)
        #expect(h.sink.count == sentBefore, "nothing is sent after close")
        // A late answer after close finds nothing to complete.
        h.send(#"{"jsonrpc":"2.0","id":"bh-1","result":{}}"#)
        #expect(outcomes.all.count == 3)
    }

    @Test func cancelRequestTellsTheClient() throws {
        let h = Harness()
        let outcomes = Outcomes()
        let id = try #require(h.server.sendRequest(method: "elicitation/create", params: [:], completion: outcomes.completion))
        h.server.cancelRequest(id, reason: "call cancelled")
        guard case .failure(.cancelled)? = outcomes.all.first else {
            Issue.record("expected cancelled")
            return
        }
        let notice = h.sink.messages.last
        #expect(notice?["method"] == "notifications/cancelled")
        #expect(notice?["params"] == ["requestId": "bh-1", "reason": "call cancelled"])
        #expect(notice?["id"] == nil)
        // Cancelling again, or answering, changes nothing.
        h.server.cancelRequest(id, reason: nil)
        h.send(#"{"jsonrpc":"2.0","id":"bh-1","result":{}}"#)
        #expect(outcomes.all.count == 1)
    }

    @Test func notificationsToTheClient() {
        let h = Harness()
        h.server.sendNotification(method: "notifications/progress", params: ["progressToken": 1, "progress": 0.5])
        #expect(
            String(decoding: h.sink.raw.first ?? [], as: UTF8.self)
                == #"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":0.5}}"#)
    }

    @Test func anErrorWithoutAnIDIsOnlyLogged() {
        let h = Harness()
        h.send(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#)
        #expect(h.sink.count == 0)
        #expect(h.logs.all.contains { $0.contains("-32700") })
    }

    @Test func aToolCallCanAskTheClientWhileInFlight() throws {
        // The shape consent will take: the provider holds the call, the server asks the client.
        let h = Harness()
        h.send(requestJSON(id: 1, method: "tools/call", params: ["name": "hold", "arguments": ["key": "w"]]))
        let provider = h.provider
        let id = h.server.sendRequest(method: "elicitation/create", params: ["message": "ok?"]) { outcome in
            let accepted = (try? outcome.get())?["action"] == "accept"
            provider.release(key: "w", text: accepted ? "done" : "declined")
        }
        #expect(id == .string("bh-1"))
        h.send(#"{"jsonrpc":"2.0","id":"bh-1","result":{"action":"accept"}}"#)
        #expect(h.sink.response(to: 1).result?["content"] == [["type": "text", "text": "done"]])
    }
}
