import ArgumentParser
import BulkheadCore
import BulkheadHTTP
import BulkheadProtocol
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization

/// `serve --http`: everything the operator asked of the HTTP listener, checked
/// before anything starts, and the run itself.
struct HTTPPlan {
    var settings: HTTPSettings
    var oauth: OAuthSettings?
    var apiTokens: APITokens
    var metricsAddress: (host: String, port: Int)?

    /// Nil when neither `--http` nor `[http] listen` asks for HTTP.
    static func make(flag: String?, metrics: String?, config: ServerConfig, fail: (String) -> ExitCode) throws -> HTTPPlan? {
        var defaults = HTTPSettings()
        defaults.maxBodyBytes = config.limits.messageBytes
        let parsed: (settings: HTTPSettings, listen: String?, oauth: OAuthSettings?)
        do {
            parsed = try HTTPConfigFile.parse(http: config.httpTable, oauth: config.oauthTable, base: config.baseDirectory,
                                              defaults: defaults)
        } catch {
            throw fail("--config: \(error)")
        }
        var metricsAddress: (String, Int)?
        if let metrics {
            guard let m = HTTPSettings.parseListen(metrics) else { throw fail("--metrics \(metrics): must be HOST:PORT") }
            metricsAddress = m
        }
        guard let listen = flag ?? parsed.listen else {
            if metrics != nil { throw fail("--metrics needs the HTTP transport (--http HOST:PORT or [http] listen)") }
            return nil
        }
        guard let (host, port) = HTTPSettings.parseListen(listen) else {
            throw fail("--http \(listen): must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
        }
        var settings = parsed.settings
        settings.host = host
        settings.port = port
        var tokens: [String: CallerIdentity] = [:]
        for (hash, name) in config.apiTokenHashes {
            guard let p = config.principals[exactly: name] else { continue }
            tokens[hash] = CallerIdentity(name: p.name, tenant: p.tenant, scopes: p.scopes)
        }
        let plan = HTTPPlan(settings: settings, oauth: parsed.oauth, apiTokens: APITokens(tokens),
                            metricsAddress: metricsAddress)
        if plan.apiTokens.isEmpty && plan.oauth == nil && !settings.bindsLoopback {
            throw fail("--http \(listen): refusing to serve a non-loopback address without authentication; give principals a token_sha256 (`bulkhead token new NAME`) or configure [oauth]")
        }
        return plan
    }

    /// Runs until SIGTERM or SIGINT, then drains: the listener stops accepting,
    /// calls in flight get `drain`, the rest are answered unavailable, sessions end.
    /// With `--metrics`: the Prometheus registry, bootstrapped as swift-metrics' backend.
    /// Before anything that makes metrics (the audit log, the plugin host) is built,
    /// since a metric made earlier would report to nobody.
    func bootstrapMetrics() -> PrometheusCollectorRegistry? {
        guard metricsAddress != nil else { return nil }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        CoreMetrics.enable()
        return registry
    }

    func serve(engine: MCPEngine, stdio: StdioSide?, host: PluginHost, audit: AuditLog?, registry: PrometheusCollectorRegistry?,
               defaultPrincipal: String, drain: Duration, logger: Logger) throws {

        let resource = ResourceURL(settings)
        let jwt = oauth.map { JWTVerifier(settings: $0, resource: resource, log: { logger.warning("\($0)") }) }
        if let jwt { try blocking { try await jwt.start() } }
        let authenticator = Authenticator(apiTokens: apiTokens, jwt: jwt, anonymousPrincipal: defaultPrincipal)
        if !authenticator.required {
            logger.warning("http: no token is configured: every request on this loopback listener is served as '\(defaultPrincipal)'")
        }
        let transport = HTTPTransport(engine: engine, settings: settings, resource: resource,
                                      authenticator: authenticator, oauth: oauth, logger: logger)
        let bound = settings
        var services: [any Service] = [transport.application { port in
            let url = bound.publicURL ?? "http://\(bound.host.contains(":") ? "[\(bound.host)]" : bound.host):\(port)/mcp"
            logger.notice("serving Streamable HTTP at \(url)\(bound.publicURL != nil ? " (listening on \(bound.host):\(port))" : "")")
        }]
        if let registry, let (mhost, mport) = metricsAddress {
            services.append(ObservabilityListener.application(
                host: mhost, port: mport, registry: registry, logger: logger,
                beforeScrape: { CoreMetrics.recordHealth(host) },
                ready: { Readiness.check(host: host, audit: audit) }))
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [], logger: logger))
        let draining = Mutex<Task<Void, Never>?>(nil)
        // A signal, or the end of stdin when stdio is served beside: both sides drain together.
        let shutDown: @Sendable (String) -> Bool = { reason in
            _ = stdio?.transport.requestDrain(reason: reason)
            return draining.withLock { task in
                guard task == nil else { return false }
                logger.notice("\(reason): shutting down (no new connections; calls in flight get \(drain))")
                task = Task {
                    async let drained: Void = transport.drain(provider: host, timeout: drain)
                    await group.triggerGracefulShutdown()
                    await drained
                }
                return true
            }
        }
        ShutdownSignals.watch(logger: logger, drain: shutDown)
        let stdioDone = DispatchSemaphore(value: 0)
        if let stdio {
            logger.notice("serving stdio beside HTTP, as principal '\(defaultPrincipal)'")
            Thread.detachNewThread {
                stdio.run()
                _ = shutDown("end of stdin")
                stdioDone.signal()
            }
        }
        do {
            try blocking { try await group.run() }
        } catch {
            _ = stdio?.transport.requestDrain(reason: "the HTTP listener failed")
            throw error
        }
        if let task = draining.withLock({ $0 }) { blocking { await task.value } }
        if stdio != nil { stdioDone.wait() }
    }
}

/// Runs async work from the CLI's synchronous main thread, which is not one of
/// Swift Concurrency's threads, so waiting on it blocks nothing they need.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        box.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    return try box.withLock { $0! }.get()
}

func blocking(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}
