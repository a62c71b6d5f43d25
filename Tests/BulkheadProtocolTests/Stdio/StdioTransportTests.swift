import Foundation
import Synchronization
import Testing

@testable import BulkheadProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// A transport serving a server over two real pipes, as a client process would see it.
final class StdioRig: Sendable {
    let provider: TestToolProvider
    let logs = LogRecorder()
    let server: MCPServer
    let transport: StdioTransport
    private let inRead: Int32
    private let inWrite: Int32
    private let outRead: Int32
    private let outWrite: Int32
    private let output = ConditionLock(Received())

    struct Received {
        var bytes: [UInt8] = []
        var newlines = 0
        var eof = false
    }
    private let runReturned = ConditionLock<Bool>(false)

    /// - Parameter clientReads: false to play a client that has already gone away (its read end closed).
    init(provider: TestToolProvider = TestToolProvider(), maxLineLength: Int = StdioTransport.defaultMaxLineLength,
         drainTimeout: Duration = .seconds(10), clientReads: Bool = true)
    {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        (inRead, inWrite) = (fds[0], fds[1])
        precondition(pipe(&fds) == 0)
        (outRead, outWrite) = (fds[0], fds[1])
        self.provider = provider
        transport = StdioTransport(input: inRead, output: outWrite, maxLineLength: maxLineLength)
        server = MCPServer(identity: testIdentity, provider: provider, principal: "op", sink: transport.sink, log: logs.log)

        // The client side keeps reading so the server never blocks on a full pipe.
        let outRead = outRead
        let output = output
        if !clientReads {
            close(outRead)
            output.withLock { $0.eof = true }
        }
        if clientReads { Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(outRead, $0.baseAddress, $0.count) }
                if n > 0 {
                    output.withLock { state in
                        state.bytes.append(contentsOf: chunk[0..<n])
                        state.newlines += chunk[0..<n].lazy.filter { $0 == 0x0A }.count
                    }
                    output.broadcast()
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            output.withLock { $0.eof = true }
            output.broadcast()
        } }
        let server = server
        let transport = transport
        let runReturned = runReturned
        Thread.detachNewThread {
            transport.run(server: server, drainTimeout: drainTimeout)
            runReturned.withLock { $0 = true }
            runReturned.broadcast()
        }
    }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(inWrite, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                Issue.record("write to the server failed: errno \(errno)")
                return
            }
            offset += n
        }
    }

    func write(_ text: String) { write(Array(text.utf8)) }

    func writeLine(_ bytes: [UInt8]) { write(bytes + [0x0A]) }

    func closeInput() { close(inWrite) }

    func waitForRunToReturn(timeout: Duration = .seconds(20)) -> Bool {
        runReturned.wait(timeout: timeout) { $0 }
    }

    /// Complete lines received so far.
    var lines: [[UInt8]] {
        output.withLock { state in
            state.bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map(Array.init)
        }
    }

    func waitForLines(_ n: Int, timeout: Duration = .seconds(20)) -> Bool {
        output.wait(timeout: timeout) { $0.newlines >= n }
    }

    /// After run returned: close the server's end and collect every line.
    func finish() -> [JSONValue] {
        close(outWrite)
        _ = output.wait(timeout: .seconds(20)) { $0.eof }
        close(inRead)
        let all = output.withLock { $0.bytes }
        #expect(all.last == 0x0A || all.isEmpty, "output ends with a whole line")
        return lines.map { line in
            do { return try JSONValue.parse(line) } catch {
                Issue.record("a line is not one JSON message (interleaved frames?): \(error)")
                return .null
            }
        }
    }
}

@Suite("Stdio transport over real pipes")
struct StdioTransportTests {
    @Test func servesLinesAndReturnsAtEOF() {
        let rig = StdioRig()
        rig.writeLine(requestJSON(id: 1, method: "initialize", params: ["protocolVersion": "2025-11-25", "capabilities": [:]]))
        rig.writeLine(notificationJSON(method: "notifications/initialized"))
        rig.writeLine(requestJSON(id: 2, method: "tools/call", params: ["name": "echo", "arguments": ["text": "é\n\"x\""]]))
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        let messages = rig.finish()
        #expect(messages.count == 2)
        #expect(messages.first?["result"]?["protocolVersion"] == "2025-11-25")
        #expect(messages.last?["result"]?["content"]?[0]?["text"] == "é\n\"x\"")
    }

    @Test func crlfEmptyLinesAndAnUnterminatedLastLine() {
        let rig = StdioRig()
        let ping1 = String(decoding: requestJSON(id: 1, method: "ping"), as: UTF8.self)
        let ping2 = String(decoding: requestJSON(id: 2, method: "ping"), as: UTF8.self)
        rig.write("\r\n\n" + ping1 + "\r\n\r\n\n" + ping2)
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        let messages = rig.finish()
        #expect(messages.map { $0["id"] } == [1, 2])
        #expect(messages.allSatisfy { $0["error"] == nil })
    }

    @Test func messagesSplitAcrossManyWritesAreReassembled() {
        let rig = StdioRig()
        let message = requestJSON(id: 1, method: "tools/call", params: ["name": "echo", "arguments": ["text": .string(String(repeating: "z", count: 300_000))]])
        var at = 0
        var step = 1
        while at < message.count {
            let end = min(message.count, at + step)
            rig.write(Array(message[at..<end]))
            at = end
            step = min(step * 3, 70_000)
        }
        rig.write("\n")
        #expect(rig.waitForLines(1))
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        let messages = rig.finish()
        #expect(messages.first?["result"]?["content"]?[0]?["text"]?.stringValue?.count == 300_000)
    }

    @Test func manyConcurrentLargeResultsArriveAsWholeLines() {
        let rig = StdioRig()
        let n = 48
        for i in 0..<n {
            rig.writeLine(
                requestJSON(
                    id: .int(Int64(i)), method: "tools/call",
                    params: ["name": "big", "arguments": ["bytes": .int(Int64(150_000 + i * 1000)), "text": .string("\(i % 10)")]]))
        }
        #expect(rig.waitForLines(n))
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        let messages = rig.finish()
        #expect(messages.count == n)
        var seen = Set<Int64>()
        for m in messages {
            guard let id = m["id"]?.intValue, let text = m["result"]?["content"]?[0]?["text"]?.stringValue else {
                Issue.record("malformed response")
                continue
            }
            #expect(seen.insert(id).inserted)
            let fill = Character("\(id % 10)")
            let expectedLength = 150_000 + Int(id) * 1000 + "\n\"quoted\"\t\\".count
            #expect(text.count == expectedLength)
            #expect(text.prefix(1000).allSatisfy { $0 == fill }, "bytes of another response inside this one")
        }
        #expect(seen.count == n)
    }

    @Test func eofDrainsCallsInFlight() {
        let rig = StdioRig()
        for i in 0..<20 {
            rig.writeLine(requestJSON(id: .int(Int64(i)), method: "tools/call", params: ["name": "delayed_echo", "arguments": ["ms": 200, "text": "late"]]))
        }
        let start = ContinuousClock.now
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        #expect(ContinuousClock.now - start >= .milliseconds(150), "run waited for the calls")
        let messages = rig.finish()
        #expect(messages.count == 20)
        #expect(Set(messages.compactMap { $0["id"]?.intValue }).count == 20)
    }

    @Test func drainGivesUpAfterItsTimeout() {
        let rig = StdioRig(drainTimeout: .milliseconds(100))
        rig.writeLine(requestJSON(id: 1, method: "tools/call", params: ["name": "hold", "arguments": ["key": "stuck"]]))
        rig.writeLine(requestJSON(id: 2, method: "ping"))
        #expect(rig.waitForLines(1))
        rig.closeInput()
        #expect(rig.waitForRunToReturn(timeout: .seconds(5)))
        #expect(rig.logs.all.contains { $0.contains("still in flight") })
        rig.provider.release(key: "stuck")
        _ = rig.finish()
    }

    @Test func anOverlongLineIsRejectedAndTheNextLineServed() {
        let rig = StdioRig(maxLineLength: 1024)
        rig.writeLine(Array(repeating: UInt8(ascii: "x"), count: 5000))
        rig.writeLine(requestJSON(id: 1, method: "ping"))
        // A line of exactly the limit is still served.
        var exact = requestJSON(id: 2, method: "ping")
        exact += Array(repeating: UInt8(ascii: " "), count: 1024 - exact.count)
        rig.writeLine(exact)
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        let messages = rig.finish()
        #expect(messages.count == 3)
        #expect(messages.first?["id"] == .null)
        #expect(messages.first?["error"]?["code"] == -32600)
        #expect(messages.dropFirst().map { $0["id"] } == [1, 2])
        #expect(rig.logs.all.contains { $0.contains("longer than 1024") })
    }

    @Test func anOverlongLineSpanningManyReadsIsSkippedWhole() {
        let rig = StdioRig(maxLineLength: 100_000)
        // 1 MB with no newline, written in pieces, then the rest of that line and a good one.
        let chunk = [UInt8](repeating: UInt8(ascii: "{"), count: 64 * 1024)
        for _ in 0..<16 { rig.write(chunk) }
        rig.write(Array("tail-of-the-long-line\n".utf8))
        rig.writeLine(requestJSON(id: 1, method: "ping"))
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        let messages = rig.finish()
        #expect(messages.count == 2)
        #expect(messages.first?["error"]?["code"] == -32600)
        #expect(messages.last?["id"] == 1)
        #expect(messages.last?["result"] == .object([:]))
    }

    @Test func theDefaultLimitIs4MiB() {
        let rig = StdioRig()
        let limit = StdioTransport.defaultMaxLineLength
        #expect(limit == 4 * 1024 * 1024)
        let tooLong = [UInt8](repeating: UInt8(ascii: "a"), count: limit + 1)
        rig.writeLine(tooLong)
        rig.writeLine(requestJSON(id: 1, method: "ping"))
        rig.closeInput()
        #expect(rig.waitForRunToReturn(timeout: .seconds(60)))
        let messages = rig.finish()
        #expect(messages.count == 2)
        #expect(messages.first?["error"]?["code"] == -32600)
        #expect(messages.last?["id"] == 1)
    }

    @Test func aVanishedClientDoesNotKillTheServer() {
        let rig = StdioRig(clientReads: false)
        // Each answer now hits EPIPE (SIGPIPE is ignored); the server keeps reading.
        for i in 0..<5 {
            rig.writeLine(requestJSON(id: .int(Int64(i)), method: "tools/call", params: ["name": "big", "arguments": ["bytes": 200_000]]))
        }
        rig.writeLine(requestJSON(id: 9, method: "ping"))
        rig.closeInput()
        #expect(rig.waitForRunToReturn())
        #expect(rig.finish().isEmpty)
    }
}
