import BulkheadProtocol
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// What a handler learns about its request besides the request itself: the
/// connection, so that a client closing it cancels the call it was waiting for.
public struct MCPRequestContext: Hummingbird.RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// `/mcp`: Streamable HTTP of both eras.
///
/// - 2026-07-28 (the `MCP-Protocol-Version` header says so): POST only, every
///   request self-contained, served by an engine of its own; header rules of
///   ``HeaderRules``; GET and DELETE are 405.
/// - 2025-11-25 and earlier: `initialize` opens a session bound to the caller;
///   its requests, notifications and answers are POSTs carrying
///   `Mcp-Session-Id`; GET opens the session's stream for messages tied to no
///   request; DELETE ends it.
///
/// A request's response is JSON when nothing came before it, else an SSE
/// stream (its progress, log lines and consent questions, then the response)
/// with keep-alive comments. Tool calls never run here: the engine starts them
/// on the plugins' threads and this task only waits for their messages.
final class MCPEndpoint: Sendable {
    let engine: MCPEngine
    let settings: HTTPSettings
    let authenticator: Authenticator
    let metadata: ResourceMetadata?
    let originGuard: OriginGuard
    let sessions: SessionTable
    let watch = ConnectionWatch()
    let keepAlive: KeepAlive
    let logger: Logger
    let metrics: HTTPMetrics
    /// Engines of 2026-07-28 requests still being answered, for the drain.
    private let live = Mutex<[ObjectIdentifier: MCPServer]>([:])

    init(engine: MCPEngine, settings: HTTPSettings, authenticator: Authenticator, metadata: ResourceMetadata?,
         logger: Logger, metrics: HTTPMetrics) {
        self.engine = engine
        self.settings = settings
        self.authenticator = authenticator
        self.metadata = metadata
        self.originGuard = OriginGuard(settings: settings)
        self.sessions = SessionTable(maxSessions: settings.maxSessions, idleSeconds: settings.sessionIdleSeconds)
        self.keepAlive = KeepAlive(interval: .milliseconds(Int64(settings.keepAliveSeconds * 1000)))
        self.logger = logger
        self.metrics = metrics
    }

    // MARK: Admission: origin, host, token

    private enum Admission {
        case admitted(caller: CallerIdentity?, principal: String)
        case refused(Response)
    }

    private func admit(_ request: Request) async -> Admission {
        let host = request.head.authority
        if case .forbidden(let why) = originGuard.check(origin: request.headers[.origin], host: host) {
            logger.notice("http: refused a request: \(why)")
            return .refused(Self.jsonError(.forbidden, id: nil, .invalidRequest(why)))
        }
        switch await authenticator.authenticate(authorization: request.headers[.authorization]) {
        case .anonymous(let principal):
            return .admitted(caller: nil, principal: principal)
        case .caller(let caller):
            return .admitted(caller: caller, principal: caller.name)
        case .refused(let failure):
            metrics.authFailure(failure.label)
            if failure.reason != .missing { logger.notice("http: refused a bearer token: \(failure.description)") }
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = Challenge.unauthorized(failure, metadata: metadata)
            headers[.contentType] = "application/json"
            let body = JSONValue.object([
                "error": .string(failure.reason == .missing ? "unauthorized" : "invalid_token"),
                "error_description": .string(failure.description),
            ]).serialized()
            return .refused(Response(status: .unauthorized, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body))))
        }
    }

    // MARK: POST

    func post(_ request: Request, context: MCPRequestContext) async -> Response {
        let caller: CallerIdentity?
        let principal: String
        switch await admit(request) {
        case .refused(let response): return response
        case .admitted(let c, let p): (caller, principal) = (c, p)
        }
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            return Self.jsonError(.unsupportedMediaType, id: nil, .invalidRequest("Content-Type must be application/json"))
        }
        let bytes: [UInt8]
        switch await readBody(request) {
        case .bytes(let b): bytes = b
        case .refused(let response): return response
        }
        let value: JSONValue
        do {
            value = try bytes.withUnsafeBytes { try JSONValue.parse($0, maxElements: engine.configuration.maxMessageElements) }
        } catch {
            return Self.jsonError(.badRequest, id: nil, .parseError("\(error)"))
        }
        if case .array = value {
            return Self.jsonError(.badRequest, id: nil, .invalidRequest("batches are not part of MCP: send one message per request"))
        }
        let message = JSONRPCMessage(classifying: value)
        let headers = HeaderLookup(fields: request.headers)
        let version = headers("mcp-protocol-version").flatMap(HeaderRules.value)
        if let version, MCPProtocol.statelessVersions.contains(version) {
            return await postStateless(value, message, headers: headers, caller: caller, principal: principal,
                                       channel: context.channel)
        }
        if let version, !MCPProtocol.handshakeVersions.contains(version) {
            return Self.jsonError(.badRequest, id: message.id,
                                  .unsupportedProtocolVersion(requested: version, supported: MCPProtocol.supportedVersions))
        }
        return await postHandshake(value, message, headers: headers, caller: caller, principal: principal,
                                   channel: context.channel)
    }

    private func postStateless(_ value: JSONValue, _ message: JSONRPCMessage, headers: HeaderLookup,
                               caller: CallerIdentity?, principal: String, channel: any Channel) async -> Response {
        switch message {
        case .invalid(let id, let error):
            return Self.jsonError(.badRequest, id: id, error)
        case .response:
            // The stateless era has no server→client requests to answer.
            return Response(status: .accepted)
        case .notification(let method, let params):
            if let mismatch = HeaderRules.mismatch(method: method, params: params, headers: headers) {
                return Self.jsonError(.badRequest, id: nil, mismatch)
            }
            return Response(status: .accepted)
        case .request(let id, let method, let params):
            // The handshake is not part of this era, whatever the body says.
            if method == "initialize" { return Self.jsonError(.notFound, id: id, .methodNotFound(method)) }
            // Headers first: a version the header and `_meta` disagree on is -32020, and
            // -32022 only when both name the same unsupported version.
            if let mismatch = HeaderRules.mismatch(method: method, params: params, headers: headers) {
                return Self.jsonError(.badRequest, id: id, mismatch)
            }
            if let problem = MCPServer.statelessEnvelopeProblem(params) {
                return Self.jsonError(.badRequest, id: id, problem)
            }
            let exchange = Exchange()
            let server = engine.makeServer(principal: principal, sink: ExchangeSink(exchange: exchange))
            let key = ObjectIdentifier(server)
            live.withLock { $0[key] = server }
            watch.attach(exchange, to: channel)
            server.receive(value, caller: caller)
            return await respond(exchange, stateless: true, extraHeaders: [:]) { [self] in
                watch.detach(exchange, from: channel)
                live.withLock { $0[key] = nil }
            } onClientGone: {
                server.cancelCall(requestID: id, reason: "the client closed the response stream")
            }
        }
    }

    private func postHandshake(_ value: JSONValue, _ message: JSONRPCMessage, headers: HeaderLookup,
                               caller: CallerIdentity?, principal: String, channel: any Channel) async -> Response {
        if case .request(let id, "initialize", _) = message {
            guard let session = sessions.create(owner: caller, principal: principal, engine: engine) else {
                return Self.jsonError(.serviceUnavailable, id: id, .internalError("too many sessions are open; retry later"))
            }
            metrics.sessionsOpen(sessions.count)
            let exchange = Exchange()
            _ = session.router.register(id, exchange)
            watch.attach(exchange, to: channel)
            session.server.receive(value, caller: caller)
            var extra = HTTPFields()
            extra[.mcpSessionID] = session.id
            return await respond(exchange, stateless: false, extraHeaders: extra) { [self] in
                watch.detach(exchange, from: channel)
                session.router.unregister(id, exchange)
            } onClientGone: {}
        }
        if case .request(let id, _, let params) = message,
           let bodyVersion = params?["_meta"]?.objectValue?[MCPProtocol.protocolVersionKey]?.stringValue {
            // A 2026-07-28 envelope under a handshake-era header: the two disagree.
            return Self.jsonError(.badRequest, id: id, .headerMismatch(
                "the MCP-Protocol-Version header does not match params._meta's protocol version (\(bodyVersion))"))
        }
        let session: LegacySession
        switch findSession(headers("mcp-session-id"), caller: caller, id: message.id) {
        case .found(let s): session = s
        case .refused(let response): return response
        }
        switch message {
        case .request(let id, _, _):
            let exchange = Exchange()
            guard session.router.register(id, exchange) else {
                return Self.jsonError(.ok, id: id, .invalidRequest("request id \(id) is already used by a request in flight"))
            }
            watch.attach(exchange, to: channel)
            session.server.receive(value, caller: caller)
            return await respond(exchange, stateless: false, extraHeaders: [:]) { [self] in
                watch.detach(exchange, from: channel)
                session.router.unregister(id, exchange)
            } onClientGone: {
                session.server.cancelCall(requestID: id, reason: "the client closed the response stream")
            }
        case .notification, .response:
            session.server.receive(value, caller: caller)
            return Response(status: .accepted)
        case .invalid(let id, let error):
            return Self.jsonError(.badRequest, id: id, error)
        }
    }

    // MARK: GET and DELETE

    func get(_ request: Request, context: MCPRequestContext) async -> Response {
        let session: LegacySession
        switch await sessionOfStreamRequest(request) {
        case .found(let s): session = s
        case .refused(let response): return response
        }
        let exchange = Exchange()
        session.router.openStandalone(exchange)
        let channel = context.channel
        watch.attach(exchange, to: channel)
        return streamResponse(exchange, first: nil, extraHeaders: [:]) { [self] in
            watch.detach(exchange, from: channel)
            session.router.closeStandalone(exchange)
        } onClientGone: {}
    }

    func delete(_ request: Request, context: MCPRequestContext) async -> Response {
        let session: LegacySession
        switch await sessionOfStreamRequest(request) {
        case .found(let s): session = s
        case .refused(let response): return response
        }
        guard let removed = sessions.remove(session.id) else {
            return Self.jsonError(.notFound, id: nil, .invalidRequest("session not found: initialize again"))
        }
        removed.end(reason: "the client ended the session")
        metrics.sessionsOpen(sessions.count)
        return Response(status: .noContent)
    }

    private enum SessionLookup {
        case found(LegacySession)
        case refused(Response)
    }

    /// The session a handshake-era message names, touched. One presented under
    /// another principal's token answers exactly like one that does not exist.
    private func findSession(_ sessionID: String?, caller: CallerIdentity?, id: JSONRPCID?) -> SessionLookup {
        guard let sessionID else {
            return .refused(Self.jsonError(.badRequest, id: id, .invalidRequest(
                "Mcp-Session-Id header is required (initialize first, or use MCP-Protocol-Version: 2026-07-28)")))
        }
        guard let session = sessions.find(sessionID), session.admits(caller) else {
            return .refused(Self.jsonError(.notFound, id: id, .invalidRequest("session not found: initialize again")))
        }
        session.touch()
        return .found(session)
    }

    /// GET and DELETE: admitted like a POST, 405 in the stateless era, then the
    /// session their header names.
    private func sessionOfStreamRequest(_ request: Request) async -> SessionLookup {
        let caller: CallerIdentity?
        switch await admit(request) {
        case .refused(let response): return .refused(response)
        case .admitted(let c, _): caller = c
        }
        if let version = request.headers[.mcpProtocolVersion].flatMap(HeaderRules.value),
           MCPProtocol.statelessVersions.contains(version) {
            return .refused(Self.methodNotAllowed())
        }
        return findSession(request.headers[.mcpSessionID], caller: caller, id: nil)
    }

    static func methodNotAllowed() -> Response {
        var headers = HTTPFields()
        headers[.allow] = "POST"
        headers[.contentType] = "application/json"
        let body = JSONRPCOutput.error(id: nil, .invalidRequest("the 2026-07-28 transport takes POST only"))
        return Response(status: .methodNotAllowed, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: Responses

    /// Waits for the exchange's first event: the response alone is sent as JSON;
    /// anything before it makes the response an SSE stream.
    private func respond(_ exchange: Exchange, stateless: Bool, extraHeaders: HTTPFields,
                         cleanup: @escaping @Sendable () -> Void,
                         onClientGone: @escaping @Sendable () -> Void) async -> Response {
        let ticker = startTicker(exchange)
        let first = await exchange.next()
        switch first {
        case .message(let bytes, final: true)?:
            ticker.cancel()
            cleanup()
            var headers = extraHeaders
            headers[.contentType] = "application/json"
            var status = stateless ? Self.status(ofResponse: bytes) : .ok
            if Self.errorCode(bytes) == JSONRPCErrorObject.insufficientScopeCode {
                // RFC 6750 §3.1: a good token without the scope is 403, with every scope needed in one challenge.
                status = .forbidden
                headers[.wwwAuthenticate] = Challenge.insufficientScope(Self.requiredScopes(bytes), metadata: metadata)
            }
            metrics.response(status.code)
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        case nil, .closed?:
            ticker.cancel()
            cleanup()
            onClientGone()
            metrics.response(499)
            return Response(status: .noContent)
        case .message(_, final: false)?, .tick?:
            ticker.cancel()
            return streamResponse(exchange, first: first, extraHeaders: extraHeaders, cleanup: cleanup,
                                  onClientGone: onClientGone)
        }
    }

    private func startTicker(_ exchange: Exchange) -> KeepAlive.Registration {
        keepAlive.register(exchange)
    }

    private func streamResponse(_ exchange: Exchange, first: Exchange.Event?, extraHeaders: HTTPFields,
                                cleanup: @escaping @Sendable () -> Void,
                                onClientGone: @escaping @Sendable () -> Void) -> Response {
        var headers = extraHeaders
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache, no-transform"
        headers[.xAccelBuffering] = "no"
        metrics.response(200)
        let ticker = startTicker(exchange)
        return Response(status: .ok, headers: headers, body: .init { writer in
            defer {
                ticker.cancel()
                cleanup()
            }
            var event = first
            if event == nil { event = .tick }
            while let current = event {
                switch current {
                case .message(let bytes, let final):
                    var frame: [UInt8] = Array("event: message\ndata: ".utf8)
                    frame.append(contentsOf: bytes)
                    frame.append(contentsOf: [10, 10])
                    do { try await writer.write(ByteBuffer(bytes: frame)) } catch {
                        onClientGone()
                        return
                    }
                    if final {
                        try? await writer.finish(nil)
                        return
                    }
                case .tick:
                    do { try await writer.write(ByteBuffer(string: ": keep-alive\n\n")) } catch {
                        onClientGone()
                        return
                    }
                case .closed:
                    onClientGone()
                    return
                }
                event = await exchange.next()
            }
            try? await writer.finish(nil)
        })
    }

    /// The HTTP status of a 2026-07-28 response sent as JSON: what the
    /// transport rules give its JSON-RPC error, 200 for a result.
    static func status(ofResponse bytes: [UInt8]) -> HTTPResponse.Status {
        guard let code = errorCode(bytes) else { return .ok }
        switch code {
        case JSONRPCErrorObject.methodNotFoundCode: return .notFound
        case JSONRPCErrorObject.parseErrorCode, JSONRPCErrorObject.invalidRequestCode,
             JSONRPCErrorObject.headerMismatchCode, JSONRPCErrorObject.missingRequiredClientCapabilityCode,
             JSONRPCErrorObject.unsupportedProtocolVersionCode:
            return .badRequest
        default: return .ok
        }
    }

    /// The code of an error response as this server writes it
    /// (`{"jsonrpc":"2.0","id":…,"error":{"code":N,…}}`): the first of `"result":`
    /// and `"error":` after the id is the structural one, since neither can occur
    /// unescaped inside the id.
    static func errorCode(_ bytes: [UInt8]) -> Int? {
        let errorKey = Array(#","error":{"code":"#.utf8)
        let resultKey = Array(#","result":"#.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: ",") {
                if bytes[i...].starts(with: resultKey) { return nil }
                if bytes[i...].starts(with: errorKey) {
                    var j = i + errorKey.count
                    var negative = false
                    if j < bytes.count, bytes[j] == UInt8(ascii: "-") { negative = true; j += 1 }
                    var n = 0
                    while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39, n < 1_000_000 {
                        n = n * 10 + Int(bytes[j] - 0x30)
                        j += 1
                    }
                    return negative ? -n : n
                }
            }
            i += 1
        }
        return nil
    }

    /// `error.data.requiredScopes` of an insufficient-scope error.
    static func requiredScopes(_ bytes: [UInt8]) -> [String] {
        guard let value = try? JSONValue.parse(bytes),
              case .array(let scopes)? = value.objectValue?["error"]?.objectValue?["data"]?.objectValue?["requiredScopes"]
        else { return [] }
        return scopes.compactMap(\.stringValue)
    }

    static func jsonError(_ status: HTTPResponse.Status, id: JSONRPCID?, _ error: JSONRPCErrorObject) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers,
                        body: .init(byteBuffer: ByteBuffer(bytes: JSONRPCOutput.error(id: id, error))))
    }

    // MARK: Body

    private enum Body {
        case bytes([UInt8])
        case refused(Response)
    }

    /// The body, up to the cap, within the time allowed. Read chunk by chunk
    /// with no timer of its own: a client that sends nothing at all is closed by
    /// the connection's idle timeout, and one that trickles is refused here once
    /// its time is up.
    private func readBody(_ request: Request) async -> Body {
        let limit = settings.maxBodyBytes
        let deadline = ContinuousClock.now + .milliseconds(Int64(settings.bodyTimeoutSeconds * 1000))
        var bytes: [UInt8] = []
        do {
            for try await chunk in request.body {
                guard bytes.count + chunk.readableBytes <= limit else {
                    return .refused(Self.jsonError(.contentTooLarge, id: nil,
                                                   .invalidRequest("the request body is over the \(limit)-byte limit")))
                }
                bytes.append(contentsOf: chunk.readableBytesView)
                if ContinuousClock.now > deadline {
                    return .refused(Self.jsonError(.requestTimeout, id: nil,
                                                   .invalidRequest("the request body took too long to arrive")))
                }
            }
        } catch {
            return .refused(Self.jsonError(.badRequest, id: nil, .invalidRequest("the request body could not be read")))
        }
        return .bytes(bytes)
    }

    // MARK: Shutdown

    /// Engines with calls in flight right now (sessions' and requests').
    var callsInFlight: Int {
        live.withLock { $0.values.reduce(0) { $0 + $1.inFlightCount } }
            + sessions.all.reduce(0) { $0 + $1.server.inFlightCount }
    }

    /// Every engine still answering, for the drain's last step.
    var engines: [MCPServer] {
        live.withLock { Array($0.values) } + sessions.all.map(\.server)
    }

    /// Ends every session (their GET streams close).
    func endSessions() {
        for session in sessions.all {
            _ = sessions.remove(session.id)
            session.router.endAll()
            session.server.close()
        }
    }
}

extension JSONRPCMessage {
    var id: JSONRPCID? {
        switch self {
        case .request(let id, _, _): id
        case .response(let id, _): id
        case .invalid(let id, _): id
        case .notification: nil
        }
    }
}

extension HTTPField.Name {
    static let mcpSessionID = HTTPField.Name("Mcp-Session-Id")!
    static let mcpProtocolVersion = HTTPField.Name("MCP-Protocol-Version")!
    static let xAccelBuffering = HTTPField.Name("X-Accel-Buffering")!
}

/// Request headers by name, case-insensitively.
struct HeaderLookup: Sendable {
    let fields: HTTPFields

    func callAsFunction(_ name: String) -> String? {
        guard let field = HTTPField.Name(name) else { return nil }
        return fields[field]
    }
}
