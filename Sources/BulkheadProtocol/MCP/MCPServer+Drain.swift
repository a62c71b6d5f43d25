/// Shutting a connection down so that every call it started gets an answer.
///
/// The order matters: nothing new may be asked of the client once the drain
/// began (there may be nobody left to answer), so questions are closed and
/// withdrawn first, which also ends at once the calls that were waiting on
/// them; then the calls in flight get until the deadline; then the provider
/// answers the rest, keeping its own records of them; the protocol layer
/// answers whatever is still left, so that no call goes unanswered even when
/// a provider does not take part.
extension MCPServer {
    /// Drains the connection and closes it; returns when every call started on
    /// it has been answered (or was cancelled by the client).
    ///
    /// 1. The provider refuses new calls from now on (``ToolProvider/beginDrain()``);
    ///    requests to the client fail at once with ``MCPRequestError/shuttingDown``.
    /// 2. Each request still waiting for the client (a consent question) is
    ///    withdrawn with `notifications/cancelled` and completed with `.shuttingDown`.
    /// 3. Calls in flight get up to `timeout` to be answered.
    /// 4. Past it, the provider answers the rest (``ToolProvider/answerRemainingCalls()``),
    ///    and any call still unanswered a moment later is answered here with an
    ///    `isError` result whose `structuredContent.kind` is `"unavailable"`.
    public func drain(timeout: Duration) {
        let questions = state.withLock { s in
            s.draining = true
            defer { s.outgoing = [:] }
            return s.outgoing
        }
        provider.beginDrain()
        if !questions.isEmpty {
            log("shutting down: withdrawing \(questions.count) question(s) still put to the client")
        }
        for (id, completion) in questions.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            sink.send(JSONRPCOutput.notification(
                method: "notifications/cancelled",
                params: ["requestId": id.json, "reason": .string(Self.shutdownReason)]))
            completion(.failure(.shuttingDown))
        }

        let waiting = inFlightCount
        if waiting > 0 {
            log("shutting down: waiting up to \(timeout) for \(waiting) call(s) in flight")
        }
        guard !waitUntilIdle(timeout: timeout) else {
            close()
            return
        }
        log("shutting down: \(inFlightCount) call(s) still in flight after \(timeout); answering them unavailable")
        provider.answerRemainingCalls()
        // Those answers are written on the threads that gave them; give them a moment to land.
        if !waitUntilIdle(timeout: Self.answerGrace) {
            answerLeftoverCalls()
            if !waitUntilIdle(timeout: Self.answerGrace) {
                log("shutting down: \(inFlightCount) answer(s) still being written; not waiting for them")
            }
        }
        close()
    }

    /// Answers, as `unavailable`, every call the provider left unanswered.
    private func answerLeftoverCalls() {
        let leftovers: [(id: JSONRPCID, call: InFlightCall)] = state.withLock { s in
            var taken: [(id: JSONRPCID, call: InFlightCall)] = []
            for (id, call) in s.calls where !call.completing {
                var claimed = call
                // A late answer from the provider now finds the call completing and is dropped.
                claimed.completing = true
                s.calls[id] = claimed
                taken.append((id, claimed))
            }
            return taken
        }
        if leftovers.isEmpty { return }
        log("shutting down: the provider left \(leftovers.count) call(s) unanswered; answering them unavailable")
        let result = Self.shutdownResult
        for (id, call) in leftovers {
            call.cancellation?.cancel(reason: Self.shutdownReason)
            sendResult(id: id) { results.toolResult(result, stateless: call.stateless, into: &$0) }
        }
        let idle: Bool = state.withLock { s in
            for (id, call) in leftovers where s.calls[id]?.serial == call.serial { s.calls[id] = nil }
            return s.calls.isEmpty
        }
        if idle { state.broadcast() }
    }

    /// How long answers already given may take to be handed to the sink.
    static let answerGrace: Duration = .seconds(1)

    static let shutdownReason = "the server is shutting down"

    /// The same shape as every other tool failure: kind and message for machines, text for readers.
    static var shutdownResult: ToolResult {
        let message = "the server shut down before this call finished; it may or may not have taken effect"
        return ToolResult(
            content: [["type": "text", "text": .string("unavailable: \(message)")]],
            structuredContent: ["kind": "unavailable", "message": .string(message)],
            isError: true)
    }
}
