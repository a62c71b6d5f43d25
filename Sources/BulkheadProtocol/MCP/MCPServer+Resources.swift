/// `resources/*` and `prompts/*`: lists paged by the server, reads and gets
/// run in the provider like tool calls (cancellable, drained, one answer each).
extension MCPServer {
    func listResources(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard provider.servesResources else { return sendError(id: id, .methodNotFound("resources/list")) }
        guard let cursor = cursorParameter(id: id, params: params, method: "resources/list") else { return }
        startInFlight(id: id, params: nil, context: context, answer: { [self] id, stateless, outcome in
            guard case .result(let listed) = outcome else {
                return sendFailure(id: id, outcome, method: "resources/list") { _ in .internalError("resources/list failed") }
            }
            sendPage(id: id, key: "resources", listed.content, cursor: cursor, nameKey: "uri", stateless: stateless)
        }) { [provider] context, complete in
            provider.listResources(context: context, complete: complete)
        }
    }

    func listResourceTemplates(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard provider.servesResources else { return sendError(id: id, .methodNotFound("resources/templates/list")) }
        guard let cursor = cursorParameter(id: id, params: params, method: "resources/templates/list") else { return }
        sendPage(id: id, key: "resourceTemplates", provider.resourceTemplates(for: context), cursor: cursor,
                 nameKey: "uriTemplate", stateless: context.era.isStateless)
    }

    func listPrompts(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard provider.servesPrompts else { return sendError(id: id, .methodNotFound("prompts/list")) }
        guard let cursor = cursorParameter(id: id, params: params, method: "prompts/list") else { return }
        sendPage(id: id, key: "prompts", provider.prompts(for: context), cursor: cursor, nameKey: "name",
                 stateless: context.era.isStateless)
    }

    func readResource(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard provider.servesResources else { return sendError(id: id, .methodNotFound("resources/read")) }
        guard case .string(let uri)? = params?["uri"] else {
            return sendError(id: id, .invalidParams("resources/read needs params.uri as a string"))
        }
        startInFlight(id: id, params: params, context: context, answer: { [self] id, stateless, outcome in
            answerResource(id: id, uri: uri, stateless: stateless, outcome)
        }) { [provider] context, complete in
            provider.readResource(uri: uri, context: context, complete: complete)
        }
    }

    func getPrompt(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard provider.servesPrompts else { return sendError(id: id, .methodNotFound("prompts/get")) }
        guard case .string(let name)? = params?["name"] else {
            return sendError(id: id, .invalidParams("prompts/get needs params.name as a string"))
        }
        var arguments = JSONObject()
        switch params?["arguments"] {
        case nil, .null?: break
        case .object(let o)?:
            // MCP: prompt arguments are strings.
            for (k, v) in o {
                guard case .string = v else {
                    return sendError(id: id, .invalidParams("prompts/get params.arguments.\(k) must be a string"))
                }
            }
            arguments = o
        default:
            return sendError(id: id, .invalidParams("prompts/get params.arguments must be an object of strings"))
        }
        startInFlight(id: id, params: params, context: context, answer: { [self] id, stateless, outcome in
            guard case .result(let r) = outcome else {
                return sendFailure(id: id, outcome, method: "prompts/get") { .invalidParams("Unknown prompt: \($0)") }
            }
            var members: JSONObject = ["messages": .array(r.content)]
            if let d = r.structuredContent?.stringValue { members["description"] = .string(d) }
            sendResult(id: id, capacity: 512) { results.object(members, meta: r.meta, ttl: nil, stateless: stateless, into: &$0) }
        }) { [provider] context, complete in
            provider.getPrompt(name: name, arguments: arguments, context: context, complete: complete)
        }
    }

    /// A read's answer; "no such resource" the same way whatever the reason.
    private func answerResource(id: JSONRPCID, uri: String, stateless: Bool, _ outcome: ToolCallOutcome) {
        guard case .result(let r) = outcome else {
            return sendFailure(id: id, outcome, method: "resources/read") { _ in Self.resourceNotFound(uri, stateless: stateless) }
        }
        sendResult(id: id, capacity: 512) {
            results.object(["contents": .array(r.content)], meta: r.meta, ttl: r.ttlMilliseconds ?? 0,
                           stateless: stateless, into: &$0)
        }
    }

    /// Any outcome but a result, as the methods other than tools/call answer it: nothing
    /// of that name (`unknown`), a protocol error as the provider named it, and
    /// input_required, which only tools/call can ask for here.
    func sendFailure(id: JSONRPCID, _ outcome: ToolCallOutcome, method: String,
                     unknown: (String) -> JSONRPCErrorObject) {
        switch outcome {
        case .result: return
        case .unknownTool(let name): sendError(id: id, unknown(name))
        case .inputRequired: sendError(id: id, .internalError("\(method) cannot ask for input"))
        case .error(let e): sendError(id: id, e)
        }
    }

    /// 2025-11-25: -32002 with data.uri; 2026-07-28: -32602 with data.uri (SEP-2164).
    static func resourceNotFound(_ uri: String, stateless: Bool) -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: stateless ? -32602 : -32002, message: "Resource not found",
                           data: .object(["uri": .string(uri)]))
    }

    /// The `cursor` parameter: nil (and answered) when malformed; "" for none.
    private func cursorParameter(id: JSONRPCID, params: JSONObject?, method: String) -> String? {
        switch params?["cursor"] {
        case nil, .null?: return ""
        case .string(let c)?: return c
        default:
            sendError(id: id, .invalidParams("\(method) params.cursor must be a string"))
            return nil
        }
    }

    /// One page of a list the provider gave in full, cursors tied to entries by `nameKey`.
    private func sendPage(id: JSONRPCID, key: String, _ all: [JSONValue], cursor: String, nameKey: String, stateless: Bool) {
        func name(_ i: Int) -> String { all[i][nameKey]?.stringValue ?? "" }
        var offset = 0
        if !cursor.isEmpty {
            guard let at = ToolListCursor.offset(of: cursor, count: all.count, name: name) else {
                return sendError(id: id, .invalidParams("Invalid cursor: not issued by this server for this list"))
            }
            offset = at
        }
        let end = offset + min(configuration.toolsPageSize, all.count - offset)
        var members: JSONObject = [key: .array(Array(all[offset..<end]))]
        if end < all.count { members["nextCursor"] = .string(ToolListCursor.make(offset: end, name: name(end))) }
        sendResult(id: id, capacity: 256 * (end - offset) + 256) {
            results.object(members, meta: nil, ttl: configuration.toolsListTTLMilliseconds, stateless: stateless, into: &$0)
        }
    }
}

extension MCPServer {
    /// Most values one `completion/complete` answers (MCP's limit).
    static let completionLimit = 100

    /// `completion/complete {ref, argument: {name, value}, context?: {arguments}}`.
    func completeArgument(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard provider.servesCompletions else { return sendError(id: id, .methodNotFound("completion/complete")) }
        let reference: CompletionReference
        switch (params?["ref"]?["type"]?.stringValue, params?["ref"]?["name"]?.stringValue, params?["ref"]?["uri"]?.stringValue) {
        case ("ref/prompt", let name?, _): reference = .prompt(name)
        case ("ref/resource", _, let uri?): reference = .resourceTemplate(uri)
        default:
            return sendError(id: id, .invalidParams(
                "completion/complete needs params.ref: {type: \"ref/prompt\", name} or {type: \"ref/resource\", uri}"))
        }
        guard let argument = params?["argument"]?["name"]?.stringValue, let value = params?["argument"]?["value"]?.stringValue else {
            return sendError(id: id, .invalidParams("completion/complete needs params.argument: {name, value} as strings"))
        }
        var others = JSONObject()
        switch params?["context"]?["arguments"] {
        case nil, .null?: break
        case .object(let o)? where o.allSatisfy({ $0.value.stringValue != nil }): others = o
        default: return sendError(id: id, .invalidParams("completion/complete params.context.arguments must be an object of strings"))
        }
        startInFlight(id: id, params: params, context: context, answer: { [self] id, stateless, outcome in
            guard case .result(let r) = outcome else {
                return sendFailure(id: id, outcome, method: "completion/complete") { .invalidParams("Unknown reference: \($0)") }
            }
            let all = r.content
            let values = Array(all.prefix(Self.completionLimit))
            let completion: JSONObject = ["values": .array(values), "total": .int(Int64(all.count)),
                                          "hasMore": .bool(all.count > values.count)]
            sendResult(id: id, capacity: 256 + 64 * values.count) {
                results.object(["completion": .object(completion)], meta: nil, ttl: nil, stateless: stateless, into: &$0)
            }
        }) { [provider] context, complete in
            provider.complete(reference, argument: argument, value: value, contextArguments: others, context: context,
                              complete: complete)
        }
    }
}

/// Resource subscriptions: `resources/subscribe` on the connection (2025-11-25),
/// `subscriptions/listen` as one long request (2026-07-28).
extension MCPServer {
    static let subscriptionIDKey = "io.modelcontextprotocol/subscriptionId"

    func subscribeLegacy(id: JSONRPCID, method: String, params: JSONObject?, context: RequestContext) {
        guard !context.era.isStateless, provider.servesSubscriptions else { return sendError(id: id, .methodNotFound(method)) }
        guard case .string(let uri)? = params?["uri"] else {
            return sendError(id: id, .invalidParams("\(method) needs params.uri as a string"))
        }
        let old = state.withLock { $0.subscriptions.removeValue(forKey: uri) }
        old?.cancel(reason: nil)
        if method == "resources/subscribe" {
            // Answered {} whatever the URI: a refusal would tell what exists.
            let handle = provider.subscribe(uris: [uri], context: context, accepted: { _ in }, updated: { [weak self] changed in
                self?.sendNotification(method: "notifications/resources/updated", params: ["uri": .string(changed)])
            }, ended: {})
            if let handle { state.withLock { $0.subscriptions[uri] = handle } }
        }
        sendResult(id: id, capacity: 48) { results.emptyResult(stateless: false, into: &$0) }
    }

    func listen(id: JSONRPCID, params: JSONObject?, context: RequestContext) {
        guard context.era.isStateless, provider.servesSubscriptions else { return sendError(id: id, .methodNotFound("subscriptions/listen")) }
        var uris: [String] = []
        switch params?["notifications"]?["resourceSubscriptions"] {
        case nil, .null?: break
        case .array(let items)? where items.allSatisfy({ $0.stringValue != nil }): uris = items.compactMap(\.stringValue)
        default: return sendError(id: id, .invalidParams("subscriptions/listen params.notifications.resourceSubscriptions must be an array of URIs"))
        }
        let subscription: JSONObject = [Self.subscriptionIDKey: id.json]
        startInFlight(id: id, params: params, context: context, answer: { [self] id, _, outcome in
            if case .error(let e) = outcome { return sendError(id: id, e) }
            sendResult(id: id, capacity: 128) { results.object([:], meta: subscription, ttl: nil, stateless: true, into: &$0) }
        }) { [provider, sink] _, complete in
            provider.subscribe(uris: uris, context: context, accepted: { kept in
                // First on this subscription's stream: the filter honoured (list_changed is never sent, so not offered).
                sink.send(JSONRPCOutput.notification(method: "notifications/subscriptions/acknowledged", params: [
                    "notifications": ["resourceSubscriptions": .array(kept.map(JSONValue.string))], "_meta": .object(subscription),
                ]), route: .during(id))
            }, updated: { uri in
                sink.send(JSONRPCOutput.notification(method: "notifications/resources/updated", params: [
                    "uri": .string(uri), "_meta": .object(subscription),
                ]), route: .during(id))
            }, ended: {
                complete(.result(ToolResult(content: [])))
            })
        }
    }
}
