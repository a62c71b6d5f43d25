/// Progress and log lines of one call, sent on the call's own stream.
///
/// Nothing is sent once the call's answer is being written (or it was
/// cancelled): the notifier asks the server's call table, so a plugin that
/// reports progress after returning, or from a thread it left running, is
/// silently ignored rather than heard after the response.
final class CallNotifications: CallNotifier {
    private let server: MCPServer
    private let id: JSONRPCID
    private let serial: UInt64
    private let progressToken: JSONValue?
    private let level: MCPLogLevel?
    private let lastProgress = ConditionLock<Double?>(nil)

    init(server: MCPServer, id: JSONRPCID, serial: UInt64, progressToken: JSONValue?, level: MCPLogLevel?) {
        self.server = server
        self.id = id
        self.serial = serial
        self.progressToken = progressToken
        self.level = level
    }

    var wantsProgress: Bool { progressToken != nil }

    func progress(_ progress: Double, total: Double?, message: String?) {
        guard let progressToken, progress.isFinite else { return }
        let increasing = lastProgress.withLock { last -> Bool in
            if let last, progress <= last { return false }
            last = progress
            return true
        }
        guard increasing, server.callIsRunning(id: id, serial: serial) else { return }
        var params: JSONObject = ["progressToken": progressToken, "progress": .double(progress)]
        if let total, total.isFinite { params["total"] = .double(total) }
        if let message { params["message"] = .string(message) }
        server.sink.send(JSONRPCOutput.notification(method: "notifications/progress", params: params), route: .during(id))
    }

    func wantsLog(_ level: MCPLogLevel) -> Bool {
        guard let minimum = self.level else { return false }
        return level >= minimum
    }

    func log(_ level: MCPLogLevel, logger: String, message: String) {
        guard wantsLog(level), server.callIsRunning(id: id, serial: serial) else { return }
        let params: JSONObject = ["level": .string(level.name), "logger": .string(logger), "data": .string(message)]
        server.sink.send(JSONRPCOutput.notification(method: "notifications/message", params: params), route: .during(id))
    }
}

/// Server→client requests made by one call, sent on that call's stream.
struct CallClientRequests: ClientRequester {
    let server: MCPServer
    let related: JSONRPCID

    @discardableResult
    func request(method: String, params: JSONObject,
                 completion: @escaping @Sendable (Result<JSONValue, MCPRequestError>) -> Void) -> JSONRPCID? {
        server.sendRequest(method: method, params: params, relatedTo: related, completion: completion)
    }

    func cancelRequest(_ id: JSONRPCID, reason: String?) {
        server.cancelRequest(id, reason: reason, relatedTo: related)
    }
}

extension MCPServer {
    /// Whether the call is still in flight and its answer not yet being written.
    func callIsRunning(id: JSONRPCID, serial: UInt64) -> Bool {
        state.withLock { s in
            guard let call = s.calls[id] else { return false }
            return call.serial == serial && !call.completing && !call.cancelRequested
        }
    }
}
