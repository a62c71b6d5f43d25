/// The MCP engine for one connection: both protocol eras on one endpoint,
/// decided per message.
///
/// A request whose `params._meta` carries `io.modelcontextprotocol/protocolVersion`
/// is served statelessly (2026-07-28): everything it needs travels with it.
/// Anything else is served in the handshake era (2025-11-25 and earlier),
/// with the client's version and capabilities remembered from `initialize`
/// for the life of this instance (one stdio connection).
///
/// Requests are served concurrently: `receive` never waits for a tool call.
/// The provider completes calls on its own threads, and each response is
/// written through the sink as soon as its call ends. Shared state sits
/// behind one lock that is never held across I/O or a callback, and no Swift
/// Concurrency is involved: the hot path is one parse, a few lock
/// acquisitions and one serialisation into a byte buffer.
public final class MCPServer: Sendable {
    let identity: ServerIdentity
    let provider: any ToolProvider
    let principal: String?
    let sink: any MessageSink
    let log: @Sendable (String) -> Void
    let configuration: MCPServerConfiguration
    let results: MCPResultWriter
    let state: ConditionLock<ServerState>

    /// - Parameters:
    ///   - principal: who is asking, as the transport established it; goes into every `RequestContext`.
    ///   - sink: where whole outgoing messages go; called from many threads.
    ///   - log: human-readable diagnostics (the CLI sends them to stderr, never stdout).
    public convenience init(identity: ServerIdentity, provider: any ToolProvider, principal: String?,
                            sink: any MessageSink, log: @escaping @Sendable (String) -> Void)
    {
        self.init(identity: identity, provider: provider, principal: principal, sink: sink, log: log,
                  configuration: MCPServerConfiguration())
    }

    public convenience init(identity: ServerIdentity, provider: any ToolProvider, principal: String?, sink: any MessageSink,
                            log: @escaping @Sendable (String) -> Void, configuration: MCPServerConfiguration)
    {
        self.init(template: Template(identity: identity, provider: provider, configuration: configuration, log: log),
                  principal: principal, sink: sink)
    }

    /// An engine made from a template, for a transport that makes one per request
    /// or per session: the parts that never change are rendered once, in the template.
    public init(template: Template, principal: String?, sink: any MessageSink) {
        self.identity = template.identity
        self.provider = template.provider
        self.principal = principal
        self.sink = sink
        self.log = template.log
        self.configuration = template.configuration
        self.results = template.results
        self.state = ConditionLock(ServerState())
    }

    /// Everything engines of one server share.
    public final class Template: Sendable {
        let identity: ServerIdentity
        let provider: any ToolProvider
        let configuration: MCPServerConfiguration
        let log: @Sendable (String) -> Void
        let results: MCPResultWriter

        public init(identity: ServerIdentity, provider: any ToolProvider, configuration: MCPServerConfiguration,
                    log: @escaping @Sendable (String) -> Void) {
            self.identity = identity
            self.provider = provider
            self.configuration = configuration
            self.log = log
            self.results = MCPResultWriter(identity: identity, configuration: configuration,
                                           resources: provider.servesResources, prompts: provider.servesPrompts,
                                           completions: provider.servesCompletions,
                                           subscriptions: provider.servesSubscriptions)
        }
    }

    // MARK: Incoming messages

    /// Handles one incoming message (one line, without the newline). Returns as
    /// soon as the message is dispatched; tool calls answer later, from any thread.
    public func receive(_ message: UnsafeRawBufferPointer) {
        guard let value = parse(message) else { return }
        receive(value, caller: nil)
    }

    /// Convenience for callers holding the message in an array.
    public func receive(_ message: [UInt8]) {
        message.withUnsafeBytes { receive($0) }
    }

    /// Parses one message under this server's limits; a message that does not
    /// parse is answered (-32700, or -32600 past the element limit) and nil returned.
    public func parse(_ message: UnsafeRawBufferPointer) -> JSONValue? {
        do {
            return try JSONValue.parse(message, maxElements: configuration.maxMessageElements)
        } catch {
            if case .tooManyElements(let limit) = error.reason {
                // Valid JSON, perhaps, but more than this server holds for one message.
                log("rejected a message of more than \(limit) values (\(message.count) bytes)")
                sink.send(JSONRPCOutput.error(id: nil, .invalidRequest("message holds more than the \(limit) values a message may hold")))
                return nil
            }
            log("rejected a message that is not valid JSON: \(error)")
            sink.send(JSONRPCOutput.error(id: nil, .parseError(error.description)))
            return nil
        }
    }

    /// Handles one parsed message. `caller` is who sent it, when the transport
    /// proved it for this message (an HTTP bearer token); nil keeps this
    /// server's `principal`.
    public func receive(_ value: JSONValue, caller: CallerIdentity?) {
        switch JSONRPCMessage(classifying: value) {
        case .request(let id, let method, let params):
            handleRequest(id: id, method: method, params: params, caller: caller)
        case .notification(let method, let params):
            handleNotification(method: method, params: params)
        case .response(let id, let outcome):
            routeResponse(id: id, outcome: outcome)
        case .invalid(let id, let error):
            log("rejected an invalid JSON-RPC message: \(error.message)")
            sink.send(JSONRPCOutput.error(id: id, error), route: .response(id))
        }
    }

    private func handleRequest(id: JSONRPCID, method: String, params: JSONObject?, caller: CallerIdentity?) {
        // `initialize` belongs to the handshake era even when a client stamps the
        // modern envelope on it (as the Python SDK rules); the rest decide by envelope.
        if method == "initialize" {
            initialize(id: id, params: params)
            return
        }
        var context: RequestContext
        switch requestContext(id: id, params: params) {
        case .success(let c): context = c
        case .failure(let error):
            sendError(id: id, error)
            return
        }
        context.caller = caller
        switch method {
        case "tools/call":
            callTool(id: id, params: params, context: context)
        case "tools/list":
            listTools(id: id, params: params, context: context)
        case "server/discover":
            discover(id: id, context: context)
        case "ping":
            // Removed in 2026-07-28; in the handshake era it answers {}.
            if context.era.isStateless {
                sendError(id: id, .methodNotFound(method))
            } else {
                sendResult(id: id, capacity: 48) { results.emptyResult(stateless: false, into: &$0) }
            }
        case "logging/setLevel":
            setLogLevel(id: id, params: params, context: context)
        case "resources/list":
            listResources(id: id, params: params, context: context)
        case "resources/templates/list":
            listResourceTemplates(id: id, params: params, context: context)
        case "resources/read":
            readResource(id: id, params: params, context: context)
        case "prompts/list":
            listPrompts(id: id, params: params, context: context)
        case "prompts/get":
            getPrompt(id: id, params: params, context: context)
        case "completion/complete":
            completeArgument(id: id, params: params, context: context)
        case "resources/subscribe", "resources/unsubscribe":
            subscribeLegacy(id: id, method: method, params: params, context: context)
        case "subscriptions/listen":
            listen(id: id, params: params, context: context)
        default:
            sendError(id: id, .methodNotFound(method))
        }
    }

    private func handleNotification(method: String, params: JSONObject?) {
        switch method {
        case "notifications/cancelled":
            cancelCall(params: params)
        case "notifications/initialized":
            state.withLock { $0.session.initialized = true }
        default:
            // Unknown notifications are ignored, as JSON-RPC and MCP require.
            break
        }
    }

    // MARK: Outgoing messages

    /// Writes a success response; `write` appends the result object.
    @inline(__always)
    func sendResult(id: JSONRPCID, capacity: Int = 256, _ write: (inout [UInt8]) -> Void) {
        var out: [UInt8] = []
        out.reserveCapacity(capacity)
        JSONRPCOutput.beginResult(id: id, into: &out)
        write(&out)
        JSONRPCOutput.endResponse(into: &out)
        sink.send(out, route: .response(id))
    }

    func sendError(id: JSONRPCID?, _ error: JSONRPCErrorObject) {
        sink.send(JSONRPCOutput.error(id: id, error), route: .response(id))
    }

    /// Sends a notification to the client (e.g. `notifications/progress`).
    public func sendNotification(method: String, params: JSONObject?) {
        sink.send(JSONRPCOutput.notification(method: method, params: params))
    }
}

/// Everything `MCPServer` shares between threads, guarded by its lock.
struct ServerState {
    /// What `initialize` established for the handshake era on this connection.
    var session = HandshakeSession()
    /// Tool calls started and not yet answered (or cancelled), by request id.
    var calls: [JSONRPCID: InFlightCall] = [:]
    var nextCallSerial: UInt64 = 0
    /// Requests sent to the client and not yet answered.
    var outgoing: [JSONRPCID: @Sendable (Result<JSONValue, MCPRequestError>) -> Void] = [:]
    var nextOutgoingNumber: UInt64 = 0
    /// After `close()`: no new requests to the client.
    var closed = false
    /// After `drain(timeout:)` began: requests to the client fail with `.shuttingDown`.
    var draining = false
    /// 2025-11-25 `resources/subscribe`: this connection's subscriptions, by URI.
    var subscriptions: [String: any ToolCallCancellation] = [:]
}

struct HandshakeSession {
    /// Before `initialize`, requests are served at the latest handshake version with no capabilities.
    var protocolVersion = MCPProtocol.latestHandshakeVersion
    var clientCapabilities = JSONObject()
    var clientInfo: JSONObject?
    var initialized = false
    /// `logging/setLevel`: the least severe plugin log line sent to the client; nil sends none.
    var logLevel: MCPLogLevel?
}
