import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// The `--metrics` listener: `/metrics` in Prometheus text format, `/healthz`
/// (the process answers) and `/readyz` (it can serve: plugins loaded, audit
/// trail writable). Apart from `/mcp`, so that it can be bound to an address
/// only the monitoring network reaches, and needs no token.
public enum ObservabilityListener {
    public static func application(host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger,
                                   beforeScrape: @escaping @Sendable () -> Void,
                                   ready: @escaping @Sendable () -> (Bool, String)) -> some Service {
        let router = Router()
        router.get("metrics") { _, _ in
            beforeScrape()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: MetricHelp.annotate(registry.emitToBuffer()))))
        }
        router.get("healthz") { _, _ in text(.ok, "ok\n") }
        router.get("readyz") { _, _ in
            let (ok, why) = ready()
            return text(ok ? .ok : .serviceUnavailable, why + "\n")
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                logger.notice("serving metrics at http://\(host):\(channel.localAddress?.port ?? port)/metrics")
            },
            logger: logger
        )
    }

    private static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
