import Foundation
import Synchronization
import Testing

@testable import BulkheadProtocol

// MARK: - Sink

/// Collects outgoing messages in memory, and lets a test wait for them.
final class RecordingSink: MessageSink {
    private let lock = ConditionLock<[[UInt8]]>([])

    func send(_ message: [UInt8]) {
        lock.withLock { $0.append(message) }
        lock.broadcast()
    }

    var raw: [[UInt8]] { lock.withLock { $0 } }
    var count: Int { lock.withLock { $0.count } }

    /// Every message, parsed (a message that does not parse fails the test).
    var messages: [JSONValue] {
        raw.map { bytes in
            do { return try JSONValue.parse(bytes) } catch {
                Issue.record("server sent invalid JSON: \(error): \(String(decoding: bytes, as: UTF8.self))")
                return .null
            }
        }
    }

    /// Messages answering `id`.
    func responses(to id: JSONValue) -> [JSONValue] {
        messages.filter { $0["id"] == id && $0["method"] == nil }
    }

    /// The single response to `id` (fails the test unless exactly one exists).
    func response(to id: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue {
        let found = responses(to: id)
        #expect(found.count == 1, "expected one response to \(id), got \(found.count)", sourceLocation: sourceLocation)
        return found.first ?? .null
    }

    @discardableResult
    func waitFor(count n: Int, timeout: Duration = .seconds(10)) -> Bool {
        lock.wait(timeout: timeout) { $0.count >= n }
    }

    func clear() { lock.withLock { $0.removeAll() } }
}

/// Collects log lines.
final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])
    var log: @Sendable (String) -> Void { { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
}

// MARK: - Provider

/// A cancellation handle that reports to its provider.
struct RecordingCancellation: ToolCallCancellation {
    let key: String
    let provider: TestToolProvider

    func cancel(reason: String?) {
        provider.recordCancel(key: key, reason: reason)
    }
}

/// A real, small ToolProvider with tools that complete in the ways the core's do:
/// at once, later from another thread, or when the test says so.
///
/// - `echo {text}`: completes synchronously inside `callTool`.
/// - `async_echo {text}`: completes from a new thread.
/// - `delayed_echo {text, ms}`: completes from a new thread after `ms` milliseconds.
/// - `hold {key}`: completes when the test calls `release(key:)`.
/// - `big {bytes, text}`: completes from a new thread with a text block of `bytes` bytes.
/// - `fail`: an `isError` result with structured content.
/// - `needs_elicitation`: answers -32021 via `.error`.
/// - `cancel_during_start {key}`: runs `onStart` (which may deliver a cancel) before returning.
/// - `tool_NNN`: the generated filler tools for pagination (they echo their name).
final class TestToolProvider: ToolProvider {
    let fillerCount: Int
    let namePrefix: String
    private let state = Mutex<State>(State())
    let onStart = Mutex<(@Sendable (String) -> Void)?>(nil)

    struct State {
        var contexts: [RequestContext] = []
        var held: [String: @Sendable (ToolCallOutcome) -> Void] = [:]
        var cancels: [(key: String, reason: String?)] = []
    }

    init(fillerCount: Int = 0, namePrefix: String = "tool_") {
        self.fillerCount = fillerCount
        self.namePrefix = namePrefix
    }

    static let fixedTools: [ToolDescriptor] = [
        ToolDescriptor(
            name: "echo", title: "Echo", description: "Returns its text.",
            inputSchema: ["type": "object", "properties": ["text": ["type": "string"]]],
            outputSchema: ["type": "object"], annotations: ["readOnlyHint": true], meta: ["com.example/x": 1]),
        ToolDescriptor(name: "async_echo", inputSchema: ["type": "object"]),
        ToolDescriptor(name: "delayed_echo", inputSchema: ["type": "object"]),
        ToolDescriptor(name: "hold", inputSchema: ["type": "object"]),
        ToolDescriptor(name: "big", inputSchema: ["type": "object"]),
        ToolDescriptor(name: "fail", inputSchema: ["type": "object"]),
        ToolDescriptor(name: "needs_elicitation", inputSchema: ["type": "object"]),
        ToolDescriptor(name: "cancel_during_start", inputSchema: ["type": "object"]),
    ]

    func tools(for context: RequestContext) -> [ToolDescriptor] {
        state.withLock { $0.contexts.append(context) }
        var all = Self.fixedTools
        for i in 0..<fillerCount {
            let name = namePrefix + String(repeating: "0", count: max(0, 3 - String(i).count)) + String(i)
            all.append(ToolDescriptor(name: name, inputSchema: ["type": "object"]))
        }
        return all
    }

    func callTool(name: String, arguments: JSONObject, context: RequestContext,
                  complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?
    {
        state.withLock { $0.contexts.append(context) }
        let text = arguments["text"]?.stringValue ?? ""
        switch name {
        case "echo":
            complete(.result(Self.text(text)))
            return nil
        case "async_echo":
            Thread.detachNewThread { complete(.result(Self.text(text))) }
            return nil
        case "delayed_echo":
            let ms = arguments["ms"]?.intValue ?? 50
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: Double(ms) / 1000)
                complete(.result(Self.text(text)))
            }
            return nil
        case "hold", "cancel_during_start":
            let key = arguments["key"]?.stringValue ?? "default"
            state.withLock { $0.held[key] = complete }
            if name == "cancel_during_start", let hook = onStart.withLock({ $0 }) { hook(key) }
            return RecordingCancellation(key: key, provider: self)
        case "big":
            let size = Int(arguments["bytes"]?.intValue ?? 100_000)
            let fill = text.isEmpty ? "x" : text
            Thread.detachNewThread {
                var body = String(repeating: fill, count: size / max(1, fill.utf8.count))
                body += "\n\"quoted\"\t\\"
                complete(.result(Self.text(body)))
            }
            return nil
        case "fail":
            complete(
                .result(
                    ToolResult(
                        content: [["type": "text", "text": "it broke"]],
                        structuredContent: ["kind": "unavailable", "retryAfterMs": 500], isError: true)))
            return nil
        case "needs_elicitation":
            complete(.error(.missingRequiredClientCapability(["elicitation": [:]])))
            return nil
        default:
            if name.hasPrefix(namePrefix) {
                complete(.result(Self.text(name)))
                return nil
            }
            complete(.unknownTool(name))
            return nil
        }
    }

    static func text(_ s: String) -> ToolResult {
        ToolResult(content: [["type": "text", "text": .string(s)]], meta: ["com.example/source": "test"])
    }

    /// Completes a held call; returns false if no call is held under `key`.
    @discardableResult
    func release(key: String, text: String? = nil) -> Bool {
        guard let complete = state.withLock({ $0.held.removeValue(forKey: key) }) else { return false }
        complete(.result(Self.text(text ?? key)))
        return true
    }

    var heldKeys: [String] { state.withLock { Array($0.held.keys) } }

    func recordCancel(key: String, reason: String?) {
        state.withLock { $0.cancels.append((key, reason)) }
    }

    var cancels: [(key: String, reason: String?)] { state.withLock { $0.cancels } }
    var contexts: [RequestContext] { state.withLock { $0.contexts } }
    var lastContext: RequestContext? { contexts.last }
}

// MARK: - Driving a server

let testIdentity = ServerIdentity(
    name: "bulkhead-test", version: "9.9.9", title: "Bulkhead Test", instructions: "Use the tools.")

/// The 2026-07-28 envelope as the Python SDK stamps it.
func modernMeta(version: JSONValue = "2026-07-28", capabilities: JSONValue? = [:],
                clientInfo: JSONValue? = ["name": "pytest", "version": "1.0"]) -> JSONValue
{
    var meta = JSONObject()
    meta["io.modelcontextprotocol/protocolVersion"] = version
    if let capabilities { meta["io.modelcontextprotocol/clientCapabilities"] = capabilities }
    if let clientInfo { meta["io.modelcontextprotocol/clientInfo"] = clientInfo }
    return .object(meta)
}

/// A request's JSON text.
func requestJSON(id: JSONValue, method: String, params: JSONValue? = nil) -> [UInt8] {
    var o: JSONObject = ["jsonrpc": "2.0", "id": id, "method": .string(method)]
    if let params { o["params"] = params }
    return JSONValue.object(o).serialized()
}

func notificationJSON(method: String, params: JSONValue? = nil) -> [UInt8] {
    var o: JSONObject = ["jsonrpc": "2.0", "method": .string(method)]
    if let params { o["params"] = params }
    return JSONValue.object(o).serialized()
}

/// A server over a recording sink, with the provider and log it uses.
struct Harness {
    let provider: TestToolProvider
    let sink = RecordingSink()
    let logs = LogRecorder()
    let server: MCPServer

    init(provider: TestToolProvider = TestToolProvider(), configuration: MCPServerConfiguration = .init(),
         principal: String? = "alice")
    {
        self.provider = provider
        server = MCPServer(
            identity: testIdentity, provider: provider, principal: principal, sink: sink, log: logs.log,
            configuration: configuration)
    }

    func send(_ bytes: [UInt8]) { server.receive(bytes) }

    func send(_ text: String) { server.receive(Array(text.utf8)) }

    /// Sends a request and returns its response (for methods answered on the spot).
    @discardableResult
    func call(_ id: JSONValue, _ method: String, _ params: JSONValue? = nil,
              sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue
    {
        send(requestJSON(id: id, method: method, params: params))
        return sink.response(to: id, sourceLocation: sourceLocation)
    }
}

extension JSONValue {
    var errorCode: Int64? { self["error"]?["code"]?.intValue }
    var errorMessage: String? { self["error"]?["message"]?.stringValue }
    var result: JSONValue? { self["result"] }
}
