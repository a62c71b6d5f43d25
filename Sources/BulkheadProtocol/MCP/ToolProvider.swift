/// The seam between the protocol layer and whatever serves tools.
///
/// The protocol layer (JSON-RPC, both MCP eras, transports) calls these and
/// knows nothing of plugins; BulkheadCore implements them and knows nothing
/// of transports. The CLI wires the two together.

/// The MCP revision a request is served under.
public enum ProtocolEra: Sendable, Hashable {
    /// 2025-11-25 and earlier: `initialize` handshake, session state on the connection.
    case handshake(version: String)
    /// 2026-07-28 and later: stateless, every request carries `_meta`.
    case stateless(version: String)

    public var version: String {
        switch self {
        case .handshake(let v), .stateless(let v): v
        }
    }

    /// Whether this is the 2026-07-28 era (no session, per-request `_meta`).
    public var isStateless: Bool {
        if case .stateless = self { true } else { false }
    }
}

/// What the protocol layer knows about one request, handed to the provider.
public struct RequestContext: Sendable {
    public var era: ProtocolEra
    /// The client's declared capabilities (from `initialize`, or from the request's `_meta`).
    public var clientCapabilities: JSONObject
    /// `clientInfo` when the client sent one.
    public var clientInfo: JSONObject?
    /// Who is asking, as the transport established it (stdio: the operator's
    /// configured principal; HTTP: from the bearer token). Nil when unknown.
    public var principal: String?
    /// Who is asking, in full, when the transport proved it from a token (HTTP);
    /// the provider then uses it instead of looking ``principal`` up by name.
    public var caller: CallerIdentity?
    /// The JSON-RPC id of the request, for logs and audit.
    public var requestID: JSONRPCID?
    /// 2026-07-28 multi-round-trip retries: the client's answers to an earlier
    /// `input_required` result, and the `requestState` it echoed back.
    public var inputResponses: JSONObject?
    public var requestState: String?
    /// Where the provider can send server→client requests (`elicitation/create`)
    /// mid-call: set in the handshake era, nil in the stateless one, which has none.
    public var clientRequests: (any ClientRequester)?
    /// Where the provider sends what the client asked to hear about this call while
    /// it runs: progress (the request carried `_meta.progressToken`) and the plugin's
    /// log lines (the client set a log level). Nil when the client asked for neither.
    public var notifications: (any CallNotifier)?
    /// The request's `_meta.progressToken`, when it carried one.
    public var progressToken: JSONValue?
    /// The least severe log level the client asked to hear for this request; nil: none.
    public var logLevel: MCPLogLevel?

    public init(era: ProtocolEra, clientCapabilities: JSONObject = [:], clientInfo: JSONObject? = nil,
                principal: String? = nil, requestID: JSONRPCID? = nil) {
        self.era = era
        self.clientCapabilities = clientCapabilities
        self.clientInfo = clientInfo
        self.principal = principal
        self.requestID = requestID
    }
}

/// One entry of `tools/list`.
public struct ToolDescriptor: Sendable {
    public var name: String
    public var title: String?
    public var description: String?
    public var inputSchema: JSONValue
    public var outputSchema: JSONValue?
    /// MCP tool annotations (readOnlyHint, destructiveHint, …), already as JSON.
    public var annotations: JSONObject?
    /// Extra `_meta` for the tool entry.
    public var meta: JSONObject?

    public init(name: String, title: String? = nil, description: String? = nil, inputSchema: JSONValue,
                outputSchema: JSONValue? = nil, annotations: JSONObject? = nil, meta: JSONObject? = nil) {
        self.name = name
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.annotations = annotations
        self.meta = meta
    }
}

/// The result of `tools/call`: MCP's CallToolResult.
public struct ToolResult: Sendable {
    /// Content blocks, e.g. `{"type":"text","text":"…"}`.
    public var content: [JSONValue]
    public var structuredContent: JSONValue?
    public var isError: Bool
    /// `_meta` of the result (provenance rides here).
    public var meta: JSONObject?
    /// A resource read's freshness: the 2026-07-28 `ttlMs` (nil: 0, immediately stale).
    public var ttlMilliseconds: Int64?

    public init(content: [JSONValue], structuredContent: JSONValue? = nil, isError: Bool = false,
                meta: JSONObject? = nil) {
        self.content = content
        self.structuredContent = structuredContent
        self.isError = isError
        self.meta = meta
    }
}

/// How a `tools/call` ended, as the provider reports it.
public enum ToolCallOutcome: Sendable {
    /// A result (successful or `isError`).
    case result(ToolResult)
    /// No tool of that name exists for this caller: the protocol layer answers
    /// with the JSON-RPC error the spec names (-32602, "Unknown tool").
    case unknownTool(String)
    /// 2026-07-28 only: the call needs input from the client first. Answered as a
    /// result with `resultType: "input_required"`; the client retries the call with
    /// `inputResponses` (keyed like `inputRequests`) and this `requestState`.
    case inputRequired(inputRequests: JSONObject, requestState: String)
    /// A protocol-level failure the provider names itself, answered as this JSON-RPC
    /// error: e.g. -32021 when the call needs a client capability the request did not
    /// declare, or -32603 for an internal fault. Tool faults belong in `.result` with
    /// `isError`, where the model can see them.
    case error(JSONRPCErrorObject)
}

/// Sends a request to the client and hands its answer to `completion`, exactly once.
public protocol ClientRequester: Sendable {
    /// Returns the request's id (nil when the connection is already closed).
    @discardableResult
    func request(method: String, params: JSONObject,
                 completion: @escaping @Sendable (Result<JSONValue, MCPRequestError>) -> Void) -> JSONRPCID?
    /// Gives up on a request: tells the client, and completes it with `.cancelled`.
    func cancelRequest(_ id: JSONRPCID, reason: String?)
}

/// Returned by `callTool`, so the protocol layer can pass on `notifications/cancelled`.
public protocol ToolCallCancellation: Sendable {
    func cancel(reason: String?)
}

/// Serves tools to the protocol layer.
public protocol ToolProvider: Sendable {
    /// The tools this caller may see, in a deterministic order.
    func tools(for context: RequestContext) -> [ToolDescriptor]

    /// Starts one call. Must not block: the work runs elsewhere, and `complete`
    /// is called exactly once, from any thread, when it ends (also after a cancel).
    func callTool(name: String, arguments: JSONObject, context: RequestContext,
                  complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?

    /// The server has begun to shut down: from now on every new call is answered
    /// at once (a refusal the caller can read, such as an `unavailable` result)
    /// instead of being run. Calls already in flight go on.
    func beginDrain()

    var servesResources: Bool { get }
    var servesPrompts: Bool { get }
    func listResources(context: RequestContext,
                       complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?
    func resourceTemplates(for context: RequestContext) -> [JSONValue]
    func readResource(uri: String, context: RequestContext,
                      complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?
    func prompts(for context: RequestContext) -> [JSONValue]
    func getPrompt(name: String, arguments: JSONObject, context: RequestContext,
                   complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?
    var servesCompletions: Bool { get }
    var servesSubscriptions: Bool { get }
    func subscribe(uris: [String], context: RequestContext,
                   accepted: @escaping @Sendable ([String]) -> Void,
                   updated: @escaping @Sendable (String) -> Void,
                   ended: @escaping @Sendable () -> Void) -> (any ToolCallCancellation)?
    func complete(_ reference: CompletionReference, argument: String, value: String, contextArguments: JSONObject,
                  context: RequestContext,
                  complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?

    /// The drain deadline has passed: answer every call still in flight now,
    /// each through its `complete`, exactly once (a late return from the work
    /// must then answer nothing). Whatever the provider leaves unanswered the
    /// protocol layer answers itself, without the provider's record of it.
    func answerRemainingCalls()
}

extension ToolProvider {
    /// Providers without work of their own to stop keep serving; ``MCPServer/drain(timeout:)``
    /// still answers whatever they leave unanswered at the deadline.
    public func beginDrain() {}
    public func answerRemainingCalls() {}
}

/// Name, version and instructions the server announces.
public struct ServerIdentity: Sendable {
    public var name: String
    public var version: String
    public var title: String?
    public var instructions: String?

    public init(name: String, version: String, title: String? = nil, instructions: String? = nil) {
        self.name = name
        self.version = version
        self.title = title
        self.instructions = instructions
    }
}

/// Serves resources and prompts to the protocol layer (both optional: a
/// provider that serves neither keeps the defaults, and the server then
/// declares neither capability).
///
/// Reads, gets and the resource list reuse ``ToolCallOutcome``: `.result`
/// carries the contents (`resources/read`), the messages (`prompts/get`) or
/// the Resource entries (`resources/list`) in `content`, with `meta`;
/// `.unknownTool` means "no such resource / prompt" and is answered as each
/// era requires; `.error` is answered as is.
extension ToolProvider {
    /// Whether `resources/*` and `prompts/*` are served at all.
    public var servesResources: Bool { false }
    public var servesPrompts: Bool { false }

    /// Every resource this caller may see, in a deterministic order (the server pages it).
    public func listResources(context: RequestContext,
                              complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        complete(.result(ToolResult(content: [])))
        return nil
    }

    /// The ResourceTemplate entries this caller may see.
    public func resourceTemplates(for context: RequestContext) -> [JSONValue] { [] }

    public func readResource(uri: String, context: RequestContext,
                             complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        complete(.unknownTool(uri))
        return nil
    }

    /// The Prompt entries this caller may see.
    public func prompts(for context: RequestContext) -> [JSONValue] { [] }

    public func getPrompt(name: String, arguments: JSONObject, context: RequestContext,
                          complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        complete(.unknownTool(name))
        return nil
    }
}

/// What `completion/complete` completes an argument of.
public enum CompletionReference: Sendable, Hashable {
    /// `ref/prompt`: a prompt's served name.
    case prompt(String)
    /// `ref/resource`: a resource template's `uriTemplate`.
    case resourceTemplate(String)
}

extension ToolProvider {
    public var servesCompletions: Bool { false }

    /// Suggested values: `.result` with one JSON string per value in `content` (the
    /// server caps and counts them); `.unknownTool` when the reference names nothing
    /// this caller may use.
    public func complete(_ reference: CompletionReference, argument: String, value: String, contextArguments: JSONObject,
                         context: RequestContext,
                         complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        complete(.result(ToolResult(content: [])))
        return nil
    }
}

extension ToolProvider {
    public var servesSubscriptions: Bool { false }

    /// Subscribes to changes of `uris`: `accepted` once, with the URIs kept (before any
    /// `updated`); `updated` per change; `ended` when the provider ends it (shutdown).
    /// The returned handle unsubscribes.
    public func subscribe(uris: [String], context: RequestContext,
                          accepted: @escaping @Sendable ([String]) -> Void,
                          updated: @escaping @Sendable (String) -> Void,
                          ended: @escaping @Sendable () -> Void) -> (any ToolCallCancellation)? {
        accepted([])
        return nil
    }
}
