import Foundation
import Testing

@testable import BulkheadProtocol

@Suite("MCPServer, tools/call and cancellation")
struct ToolCallTests {
    // MARK: Params

    @Test func nameMustBeAString() {
        let h = Harness()
        #expect(h.call(1, "tools/call").errorCode == -32602)
        #expect(h.call(2, "tools/call", [:]).errorCode == -32602)
        #expect(h.call(3, "tools/call", ["name": 5]).errorCode == -32602)
        #expect(h.call(4, "tools/call", ["name": nil]).errorCode == -32602)
        #expect(h.provider.contexts.isEmpty, "invalid calls never reach the provider")
    }

    @Test func argumentsMustBeAnObject() {
        let h = Harness()
        #expect(h.call(1, "tools/call", ["name": "echo", "arguments": [1, 2]]).errorCode == -32602)
        #expect(h.call(2, "tools/call", ["name": "echo", "arguments": "text"]).errorCode == -32602)
        #expect(h.call(3, "tools/call", ["name": "echo", "arguments": nil]).result != nil, "null means none")
        #expect(h.call(4, "tools/call", ["name": "echo"]).result != nil)
    }

    @Test func unknownToolIsInvalidParams() {
        let h = Harness()
        let response = h.call(1, "tools/call", ["name": "nope", "arguments": [:]])
        #expect(response.errorCode == -32602)
        #expect(response.errorMessage == "Unknown tool: nope")
        let modern = h.call(2, "tools/call", ["name": "nope", "_meta": modernMeta()])
        #expect(modern.errorMessage == "Unknown tool: nope")
    }

    @Test func providerErrorsPassThrough() {
        let h = Harness()
        let response = h.call(1, "tools/call", ["name": "needs_elicitation", "_meta": modernMeta()])
        #expect(response.errorCode == -32021)
        #expect(response["error"]?["data"] == ["requiredCapabilities": ["elicitation": [:]]])
    }

    @Test func asynchronousCompletionIsAnsweredLater() {
        let h = Harness()
        h.send(requestJSON(id: 1, method: "tools/call", params: ["name": "async_echo", "arguments": ["text": "later"]]))
        #expect(h.sink.waitFor(count: 1))
        #expect(h.sink.response(to: 1).result?["content"] == [["type": "text", "text": "later"]])
        #expect(h.server.waitUntilIdle(timeout: .seconds(5)))
        #expect(h.server.inFlightCount == 0)
    }

    @Test func aDuplicateIDInFlightIsRefused() {
        let h = Harness()
        h.send(requestJSON(id: 1, method: "tools/call", params: ["name": "hold", "arguments": ["key": "a"]]))
        h.send(requestJSON(id: 1, method: "tools/call", params: ["name": "hold", "arguments": ["key": "b"]]))
        #expect(h.sink.response(to: 1).errorCode == -32600)
        #expect(h.provider.heldKeys == ["a"])
        h.provider.release(key: "a")
        #expect(h.sink.responses(to: 1).count == 2)
    }

    // MARK: Cancellation

    @Test func cancellingSuppressesTheResponse() {
        let h = Harness()
        h.send(requestJSON(id: 7, method: "tools/call", params: ["name": "hold", "arguments": ["key": "k"]]))
        #expect(h.server.inFlightCount == 1)
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": 7, "reason": "user gave up"]))
        #expect(h.provider.cancels.map(\.key) == ["k"])
        #expect(h.provider.cancels.first?.reason == "user gave up")
        #expect(h.server.inFlightCount == 0)
        // The provider still completes (it must), but nothing is sent, ever.
        #expect(h.provider.release(key: "k"))
        #expect(h.sink.count == 0)
        #expect(h.server.waitUntilIdle(timeout: .zero))
    }

    @Test func cancellingByStringID() {
        let h = Harness()
        h.send(requestJSON(id: "req-1", method: "tools/call", params: ["name": "hold", "arguments": ["key": "s"]]))
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": "req-1"]))
        #expect(h.provider.cancels.count == 1)
        #expect(h.provider.cancels.first?.reason == nil)
        h.provider.release(key: "s")
        #expect(h.sink.count == 0)
    }

    @Test func cancelForUnknownOrFinishedIDsIsIgnored() {
        let h = Harness()
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": 99]))
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": "nope"]))
        h.send(notificationJSON(method: "notifications/cancelled", params: [:]))
        h.send(notificationJSON(method: "notifications/cancelled"))
        h.call(1, "tools/call", ["name": "echo"])
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": 1]))
        #expect(h.sink.count == 1)
        #expect(h.provider.cancels.isEmpty)
        // A cancel is not the same id number as a string.
        h.send(requestJSON(id: 5, method: "tools/call", params: ["name": "hold", "arguments": ["key": "five"]]))
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": "5"]))
        #expect(h.provider.cancels.isEmpty)
        h.provider.release(key: "five")
        #expect(h.sink.responses(to: 5).count == 1)
    }

    @Test func aReusedIDNeverGetsTheCancelledCallsAnswer() {
        let h = Harness()
        h.send(requestJSON(id: 9, method: "tools/call", params: ["name": "hold", "arguments": ["key": "old"]]))
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": 9]))
        h.send(requestJSON(id: 9, method: "tools/call", params: ["name": "hold", "arguments": ["key": "new"]]))
        h.provider.release(key: "old", text: "OLD")
        #expect(h.sink.count == 0)
        h.provider.release(key: "new", text: "NEW")
        #expect(h.sink.response(to: 9).result?["content"] == [["type": "text", "text": "NEW"]])
    }

    @Test func aCancelThatOvertakesTheStartIsPassedOn() {
        // Simulates a cancel received on another thread while callTool has not returned yet.
        let h = Harness()
        let server = h.server
        h.provider.onStart.withLock {
            $0 = { _ in
                server.receive(notificationJSON(method: "notifications/cancelled", params: ["requestId": 3, "reason": "early"]))
            }
        }
        h.send(requestJSON(id: 3, method: "tools/call", params: ["name": "cancel_during_start", "arguments": ["key": "e"]]))
        #expect(h.provider.cancels.map(\.key) == ["e"])
        #expect(h.provider.cancels.first?.reason == "early")
        #expect(h.server.inFlightCount == 0)
        h.provider.release(key: "e")
        #expect(h.sink.count == 0)
    }

    @Test func aCallThatCompletesBeforeCallToolReturnsIsAnsweredOnce() {
        let h = Harness()
        h.send(requestJSON(id: 1, method: "tools/call", params: ["name": "echo", "arguments": ["text": "now"]]))
        #expect(h.sink.responses(to: 1).count == 1)
        #expect(h.server.inFlightCount == 0)
        h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": 1]))
        #expect(h.sink.count == 1)
    }

    // MARK: Concurrency

    @Test func concurrentCompletionsFromManyThreadsAreEachAnsweredOnce() {
        let h = Harness()
        let n = 2000
        for i in 0..<n {
            h.send(requestJSON(id: .int(Int64(i)), method: "tools/call", params: ["name": "hold", "arguments": ["key": .string("k\(i)")]]))
        }
        #expect(h.server.inFlightCount == n)
        #expect(h.sink.count == 0, "receive never waits for a call")
        DispatchQueue.concurrentPerform(iterations: n) { i in
            h.provider.release(key: "k\(i)", text: "t\(i)")
        }
        #expect(h.server.waitUntilIdle(timeout: .seconds(10)))
        let messages = h.sink.messages
        #expect(messages.count == n)
        var seen = Set<Int64>()
        for m in messages {
            guard let id = m["id"]?.intValue else {
                Issue.record("response without an id: \(m)")
                continue
            }
            #expect(seen.insert(id).inserted, "id \(id) answered twice")
            #expect(m.result?["content"]?[0]?["text"] == .string("t\(id)"))
        }
        #expect(seen.count == n)
    }

    @Test func concurrentCallsAndCancelsFromManyThreads() {
        // Receive on many threads at once too (as an HTTP transport will).
        let h = Harness()
        let n = 1000
        DispatchQueue.concurrentPerform(iterations: n) { i in
            h.send(requestJSON(id: .int(Int64(i)), method: "tools/call", params: ["name": "hold", "arguments": ["key": .string("k\(i)")]]))
        }
        DispatchQueue.concurrentPerform(iterations: n) { i in
            if i % 2 == 0 {
                h.send(notificationJSON(method: "notifications/cancelled", params: ["requestId": .int(Int64(i))]))
            }
            h.provider.release(key: "k\(i)")
        }
        #expect(h.server.waitUntilIdle(timeout: .seconds(10)))
        let ids = h.sink.messages.compactMap { $0["id"]?.intValue }
        #expect(Set(ids).count == ids.count, "no id answered twice")
        // Odd ids were never cancelled, so each is answered; even ones may have been
        // answered before their cancel arrived, but at most once.
        for i in stride(from: 1, to: n, by: 2) { #expect(ids.contains(Int64(i))) }
    }

    @Test func waitUntilIdleTimesOutWhileACallIsHeld() {
        let h = Harness()
        h.send(requestJSON(id: 1, method: "tools/call", params: ["name": "hold", "arguments": ["key": "x"]]))
        let start = ContinuousClock.now
        #expect(!h.server.waitUntilIdle(timeout: .milliseconds(100)))
        #expect(ContinuousClock.now - start >= .milliseconds(90))
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.05)
            h.provider.release(key: "x")
        }
        #expect(h.server.waitUntilIdle(timeout: .seconds(5)))
        #expect(h.sink.responses(to: 1).count == 1)
    }
}
