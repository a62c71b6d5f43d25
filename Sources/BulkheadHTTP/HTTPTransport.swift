import BulkheadProtocol
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// Streamable HTTP for the CLI to run: the `/mcp` endpoint, the
/// protected-resource metadata, and the drain at shutdown.
public final class HTTPTransport: Sendable {
    let endpoint: MCPEndpoint
    let settings: HTTPSettings
    let logger: Logger

    /// - Parameters:
    ///   - oauth: the issuer's settings when OAuth access tokens are accepted; its
    ///     metadata is then served unauthenticated at the well-known paths.
    let resource: ResourceURL

    public init(engine: MCPEngine, settings: HTTPSettings, resource: ResourceURL, authenticator: Authenticator,
                oauth: OAuthSettings?, logger: Logger) {
        self.resource = resource
        let metadata = oauth.map {
            ResourceMetadata(resourceURL: resource,
                             authorizationServers: $0.authorizationServers.isEmpty ? $0.issuers : $0.authorizationServers,
                             scopesSupported: $0.scopesSupported)
        }
        self.endpoint = MCPEndpoint(engine: engine, settings: settings, authenticator: authenticator,
                                    metadata: metadata, logger: logger, metrics: HTTPMetrics())
        self.settings = settings
        self.logger = logger
    }

    /// The Hummingbird application serving `/mcp`; run it in a ServiceGroup.
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        let router = Router(context: MCPRequestContext.self)
        let endpoint = self.endpoint
        router.post("mcp") { request, context in await endpoint.post(request, context: context) }
        router.get("mcp") { request, context in await endpoint.get(request, context: context) }
        router.delete("mcp") { request, context in await endpoint.delete(request, context: context) }
        if let metadata = endpoint.metadata {
            for path in metadata.paths {
                router.get(RouterPath(path)) { _, _ in Self.metadataResponse(metadata) }
                router.on(RouterPath(path), method: .options) { _, _ in
                    var headers = Self.corsHeaders
                    headers[.accessControlAllowHeaders] = "Authorization, Content-Type, MCP-Protocol-Version"
                    return Response(status: .noContent, headers: headers)
                }
            }
        }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(settings.idleTimeoutSeconds * 1000)))),
            configuration: ApplicationConfiguration(
                address: .hostname(settings.host, port: settings.port), serverName: nil, backlog: 1024,
                availableConnectionsDelegate: MaximumAvailableConnections(settings.maxConnections)),
            onServerRunning: { [resource, settings] channel in
                let port = channel.localAddress?.port ?? 0
                resource.bound(port: port, settings: settings)
                await onRunning(port)
            },
            logger: logger
        )
    }

    private static var corsHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = "*"
        headers[.accessControlAllowMethods] = "GET, OPTIONS"
        return headers
    }

    private static func metadataResponse(_ metadata: ResourceMetadata) -> Response {
        var headers = corsHeaders
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "max-age=3600"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metadata.document)))
    }

    /// Shutdown: new calls are refused by the provider, calls in flight get
    /// `timeout`, the provider answers the rest, the engines answer whatever is
    /// left, and the sessions' streams end. Returns when every call is answered.
    public func drain(provider: any ToolProvider, timeout: Duration) async {
        provider.beginDrain()
        let deadline = ContinuousClock.now + timeout
        while endpoint.callsInFlight > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let waiting = endpoint.callsInFlight
        if waiting > 0 {
            logger.notice("http: \(waiting) call(s) still in flight at the drain deadline: answering them unavailable")
            provider.answerRemainingCalls()
        }
        for engine in endpoint.engines where engine.inFlightCount > 0 {
            engine.drain(timeout: .milliseconds(100))
        }
        endpoint.endSessions()
    }
}
