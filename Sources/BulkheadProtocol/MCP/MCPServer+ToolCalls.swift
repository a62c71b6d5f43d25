/// `tools/call`: starting calls, answering them from any thread, cancelling
/// them, and waiting for the last one to end.
///
/// Every call in flight has an entry keyed by its request id. The entry's
/// serial number ties a completion to the request that started it, so a
/// client that reuses an id after a cancel can never receive the old call's
/// answer. A cancelled entry is answered never, whatever the provider does.
extension MCPServer {
    func callTool(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard case .string(let name)? = params?["name"] else {
            sendError(id: id, .invalidParams("tools/call needs params.name as a string"))
            return
        }
        let arguments: JSONObject
        switch params?["arguments"] {
        case nil, .null?: arguments = JSONObject()
        case .object(let o)?: arguments = o
        default:
            sendError(id: id, .invalidParams("tools/call params.arguments must be an object"))
            return
        }

        startInFlight(id: id, params: params, context: context, answer: { [self] id, stateless, outcome in
            answerToolCall(id: id, stateless: stateless, outcome: outcome)
        }) { [provider] context, complete in
            provider.callTool(name: name, arguments: arguments, context: context, complete: complete)
        }
    }

    /// Starts one request that runs in a plugin (tools/call, resources/read, prompts/get,
    /// resources/list): registers it in flight so it can be cancelled and drained, gives
    /// it its context, and answers it through `answer` exactly once.
    func startInFlight(id: JSONRPCID, params: JSONObject?, context: RequestContext,
                       answer: @escaping @Sendable (JSONRPCID, Bool, ToolCallOutcome) -> Void,
                       start: (RequestContext, @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)?) {
        let stateless = context.era.isStateless
        let serial: UInt64? = state.withLock { s in
            guard s.calls[id] == nil else { return nil }
            s.nextCallSerial &+= 1
            s.calls[id] = InFlightCall(serial: s.nextCallSerial, stateless: stateless)
            return s.nextCallSerial
        }
        guard let serial else {
            sendError(id: id, .invalidRequest("request id \(id) is already used by a call in flight"))
            return
        }

        var context = context
        if stateless {
            // A retry after input_required carries the answers and the state to resume from.
            context.inputResponses = params?["inputResponses"]?.objectValue
            context.requestState = params?["requestState"]?.stringValue
        } else {
            context.clientRequests = CallClientRequests(server: self, related: id)
        }
        if context.progressToken != nil || context.logLevel != nil {
            context.notifications = CallNotifications(
                server: self, id: id, serial: serial, progressToken: context.progressToken, level: context.logLevel)
        }
        // The provider may call `complete` on any thread, even before start returns.
        let cancellation = start(context) { outcome in
            self.finishCall(id: id, serial: serial, stateless: stateless, outcome: outcome, answer: answer)
        }

        // Attach the cancellation handle, unless a cancel overtook the start (possible
        // only when messages are received on several threads), in which case pass it on now.
        enum Attach { case attached, finished, cancelled(String?) }
        let attach: Attach = state.withLock { s in
            guard var call = s.calls[id], call.serial == serial else { return .finished }
            if call.cancelRequested {
                s.calls[id] = nil
                return .cancelled(call.cancelReason)
            }
            call.cancellation = cancellation
            call.started = true
            s.calls[id] = call
            return .attached
        }
        if case .cancelled(let reason) = attach {
            cancellation?.cancel(reason: reason)
            signalIfIdle()
        }
    }

    /// The provider's `complete`: answers the call unless it was cancelled or already answered.
    private func finishCall(id: JSONRPCID, serial: UInt64, stateless: Bool, outcome: ToolCallOutcome,
                            answer: @Sendable (JSONRPCID, Bool, ToolCallOutcome) -> Void) {
        let deliver: Bool = state.withLock { s in
            guard var call = s.calls[id], call.serial == serial, !call.cancelRequested, !call.completing else {
                return false
            }
            // Still counted in flight until written, so a drain on EOF waits for the bytes.
            call.completing = true
            s.calls[id] = call
            return true
        }
        guard deliver else { return }

        answer(id, stateless, outcome)

        let idle: Bool = state.withLock { s in
            if s.calls[id]?.serial == serial { s.calls[id] = nil }
            return s.calls.isEmpty
        }
        if idle { state.broadcast() }
    }

    /// Writes a tools/call outcome.
    func answerToolCall(id: JSONRPCID, stateless: Bool, outcome: ToolCallOutcome) {
        switch outcome {
        case .result(let result):
            sendResult(id: id, capacity: 256) { results.toolResult(result, stateless: stateless, into: &$0) }
        case .unknownTool(let name):
            sendError(id: id, .invalidParams("Unknown tool: \(name)"))
        case .inputRequired(let requests, let requestState):
            if stateless {
                sendResult(id: id, capacity: 512) { results.inputRequired(requests, requestState: requestState, into: &$0) }
            } else {
                sendError(id: id, .internalError("input_required is a 2026-07-28 result; this request is in the handshake era"))
            }
        case .error(let error):
            sendError(id: id, error)
        }
    }

    /// `notifications/cancelled {requestId, reason?}`: stop the call and never answer it.
    /// Unknown and finished ids are ignored; a call whose answer is already being written
    /// is past cancelling (the specification accepts that race).
    func cancelCall(params: JSONObject?) {
        guard let requestID = params?["requestId"].flatMap(JSONRPCID.init) else {
            log("ignored notifications/cancelled without a string or integer requestId")
            return
        }
        cancelCall(requestID: requestID, reason: params?["reason"]?.stringValue)
    }

    /// Stops the call of this request, as `notifications/cancelled` would: the
    /// transport's way of cancelling when the client closed the request's stream.
    public func cancelCall(requestID: JSONRPCID, reason: String?) {
        let handle: (any ToolCallCancellation)?? = state.withLock { s in
            guard var call = s.calls[requestID], !call.completing, !call.cancelRequested else { return nil }
            if call.started {
                s.calls[requestID] = nil
                return .some(call.cancellation)
            }
            call.cancelRequested = true
            call.cancelReason = reason
            s.calls[requestID] = call
            return nil
        }
        if case .some(let cancellation) = handle {
            cancellation?.cancel(reason: reason)
            signalIfIdle()
        }
    }

    private func signalIfIdle() {
        if state.withLock({ $0.calls.isEmpty }) { state.broadcast() }
    }

    /// Blocks while ``MCPServerConfiguration/maxCallsInFlight`` calls are in
    /// flight, and returns how long it waited. The transport calls it before it
    /// reads the next message, so a client that pipelines calls faster than its
    /// tools answer waits in its own pipe instead of growing the server's queues.
    /// Polls: calls end on many paths, and a paused reader is in no hurry.
    public func waitForCallRoom() -> Duration {
        let limit = configuration.maxCallsInFlight
        if state.withLock({ $0.calls.count < limit }) { return .zero }
        let start = ContinuousClock.now
        while !state.wait(timeout: .milliseconds(5), until: { $0.calls.count < limit || $0.draining }) {}
        return ContinuousClock.now - start
    }

    /// Tool calls started and not yet answered or cancelled.
    public var inFlightCount: Int {
        state.withLock { $0.calls.count }
    }

    /// Blocks until no tool call is in flight (their answers written) or `timeout`
    /// passes; returns whether it got idle. ``drain(timeout:)`` waits with it.
    public func waitUntilIdle(timeout: Duration) -> Bool {
        state.wait(timeout: timeout) { $0.calls.isEmpty }
    }
}

/// One `tools/call` between its start and its answer.
struct InFlightCall {
    /// Distinguishes this call from a later one that reuses the request id.
    let serial: UInt64
    var cancellation: (any ToolCallCancellation)?
    /// `callTool` has returned and the handle is attached.
    var started = false
    /// A cancel arrived before `callTool` returned; the starter passes it on.
    var cancelRequested = false
    var cancelReason: String?
    /// The answer is being written.
    var completing = false
    /// Served in the 2026-07-28 era: how a drain that answers it itself must write the result.
    let stateless: Bool

    init(serial: UInt64, stateless: Bool) {
        self.serial = serial
        self.stateless = stateless
    }
}

extension MCPServer {
    /// Cancels every call in flight, as if the client had sent `notifications/cancelled`
    /// for each: the transport's way to end a session (HTTP DELETE).
    public func cancelAllCalls(reason: String?) {
        let ids = state.withLock { Array($0.calls.keys) }
        for id in ids { cancelCall(requestID: id, reason: reason) }
    }
}
