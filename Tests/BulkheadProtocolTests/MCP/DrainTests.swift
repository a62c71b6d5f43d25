import Foundation
import Testing

@testable import BulkheadProtocol

@Suite("MCPServer drain: every call answered")
struct DrainTests {
    @Test func questionsAreWithdrawnAndCallsLeftUnansweredAreAnsweredUnavailable() throws {
        let h = Harness()
        let outcomes = ServerToClientRequestTests.Outcomes()
        let asked = try #require(h.server.sendRequest(method: "elicitation/create", params: [:], completion: outcomes.completion))
        h.send(requestJSON(id: 1, method: "tools/call", params: ["name": "hold", "arguments": ["key": "stuck"]]))
        h.send(requestJSON(id: 2, method: "tools/call", params: ["name": "delayed_echo", "arguments": ["ms": 50, "text": "in time"]]))

        h.server.drain(timeout: .milliseconds(800))

        // The question: withdrawn from the client, and its asker told why.
        let cancelled = h.sink.messages.filter { $0["method"] == "notifications/cancelled" }
        #expect(cancelled.count == 1)
        #expect(cancelled.first?["params"]?["requestId"] == asked.json)
        guard case .failure(.shuttingDown)? = outcomes.all.first else {
            Issue.record("expected shuttingDown, got \(outcomes.all)")
            return
        }
        // A call that finished within the deadline has its own answer; the held one is answered unavailable.
        #expect(h.sink.response(to: 2)["result"]?["content"]?[0]?["text"] == "in time")
        let cut = h.sink.response(to: 1)["result"]
        #expect(cut?["isError"] == true)
        #expect(cut?["structuredContent"]?["kind"] == "unavailable")
        #expect(h.server.inFlightCount == 0)
        // A late answer from the provider is dropped: still one response.
        h.provider.release(key: "stuck")
        #expect(h.sink.responses(to: 1).count == 1)
        // Nothing new is asked of the client once the drain began.
        let late = ServerToClientRequestTests.Outcomes()
        #expect(h.server.sendRequest(method: "elicitation/create", params: [:], completion: late.completion) == nil)
        #expect(late.all.count == 1)
    }

    @Test func drainWithNothingInFlightReturnsAtOnce() {
        let h = Harness()
        let start = ContinuousClock.now
        h.server.drain(timeout: .seconds(30))
        #expect(ContinuousClock.now - start < .seconds(5))
    }
}
