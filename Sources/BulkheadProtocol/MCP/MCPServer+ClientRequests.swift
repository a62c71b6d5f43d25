/// Requests from the server to the client (e.g. `elicitation/create` for consent
/// in the handshake era), and the client's answers to them.
extension MCPServer {
    /// Sends a request to the client; `completion` runs exactly once, on the
    /// thread that receives the answer, or with `.connectionClosed` when the
    /// connection ends first (at once if it already has), or with `.shuttingDown`
    /// when the server drains first (at once if it already does).
    ///
    /// Ids are strings `"bh-1"`, `"bh-2"`, … so they cannot be mistaken for the
    /// client's own request ids in logs. Returns the id, for ``cancelRequest(_:reason:)``;
    /// nil when the connection is already closed.
    @discardableResult
    public func sendRequest(method: String, params: JSONObject, relatedTo related: JSONRPCID? = nil,
                            completion: @escaping @Sendable (Result<JSONValue, MCPRequestError>) -> Void)
        -> JSONRPCID?
    {
        let registered: Result<JSONRPCID, MCPRequestError> = state.withLock { s in
            guard !s.closed else { return .failure(.connectionClosed) }
            // Nobody would be left to receive the answer: ask nothing new once the drain began.
            guard !s.draining else { return .failure(.shuttingDown) }
            s.nextOutgoingNumber += 1
            let id = JSONRPCID.string("bh-\(s.nextOutgoingNumber)")
            s.outgoing[id] = completion
            return .success(id)
        }
        let id: JSONRPCID
        switch registered {
        case .success(let registeredID): id = registeredID
        case .failure(let error):
            completion(.failure(error))
            return nil
        }
        // Registered before sending, so even an instant answer finds its completion.
        sink.send(JSONRPCOutput.request(id: id, method: method, params: params), route: related.map { .during($0) } ?? .unrelated)
        return id
    }

    /// Gives up on a request sent with ``sendRequest(method:params:completion:)``:
    /// tells the client (`notifications/cancelled`) and completes it with `.cancelled`.
    /// Does nothing if it was already answered.
    public func cancelRequest(_ id: JSONRPCID, reason: String?, relatedTo related: JSONRPCID?) {
        guard let completion = state.withLock({ $0.outgoing.removeValue(forKey: id) }) else { return }
        var params: JSONObject = ["requestId": id.json]
        if let reason { params["reason"] = .string(reason) }
        sink.send(JSONRPCOutput.notification(method: "notifications/cancelled", params: params), route: related.map { .during($0) } ?? .unrelated)
        completion(.failure(.cancelled))
    }

    /// Requests sent to the client and not yet answered.
    public var pendingClientRequestCount: Int {
        state.withLock { $0.outgoing.count }
    }

    /// Routes the client's answer to the request it answers.
    func routeResponse(id: JSONRPCID?, outcome: Result<JSONValue, JSONRPCErrorObject>) {
        guard let id else {
            if case .failure(let error) = outcome {
                log("client reported an error it could not tie to a request: \(error)")
            }
            return
        }
        guard let completion = state.withLock({ $0.outgoing.removeValue(forKey: id) }) else {
            log("ignored a response to \(id), which is not a pending server request")
            return
        }
        completion(outcome.mapError { .remote($0) })
    }

    /// The connection is over: pending requests to the client fail with
    /// `.connectionClosed` and new ones fail at once. Calls in flight are not touched.
    public func close() {
        let (pending, subscriptions) = state.withLock { s in
            s.closed = true
            let pending = s.outgoing
            s.outgoing = [:]
            defer { s.subscriptions = [:] }
            return (pending, s.subscriptions)
        }
        for subscription in subscriptions.values { subscription.cancel(reason: "connection closed") }
        for completion in pending.values {
            completion(.failure(.connectionClosed))
        }
    }
}

extension MCPServer: ClientRequester {
    @discardableResult
    public func request(method: String, params: JSONObject,
                        completion: @escaping @Sendable (Result<JSONValue, MCPRequestError>) -> Void) -> JSONRPCID? {
        sendRequest(method: method, params: params, completion: completion)
    }

    public func cancelRequest(_ id: JSONRPCID, reason: String?) {
        cancelRequest(id, reason: reason, relatedTo: nil)
    }
}
