#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BulkheadCore
import BulkheadHTTP
import BulkheadProtocol
import Logging

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve every plugin under --plugins as one MCP endpoint, over stdio or Streamable HTTP.",
        discussion: """
            Speaks MCP (2025-11-25 with the initialize handshake, and the stateless
            2026-07-28) as newline-delimited JSON-RPC on stdin/stdout. Stdout carries
            only protocol messages; logs go to stderr.

            With --http HOST:PORT (or [http] listen in the configuration) it serves
            Streamable HTTP at http://HOST:PORT/mcp instead, each request's caller
            proven by its bearer token ([principals.NAME] token_sha256, or [oauth]
            access tokens); without any token configured it serves loopback only,
            as the default principal. --metrics HOST:PORT adds a listener with
            /metrics (Prometheus), /healthz and /readyz.

            Shuts down, with exit status 0, when stdin closes or on SIGTERM or SIGINT:
            new calls are answered unavailable, consent questions still open are
            withdrawn, calls in flight get --drain-timeout seconds and are then
            answered unavailable, the audit trail is written and synced, and each
            plugin's destroy runs after its last call returned. SIGHUP is logged
            and ignored.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Directory with one folder per plugin.", valueName: "dir"))
    var plugins: String?

    @Option(name: .long, help: ArgumentHelp("Server configuration (principals), e.g. bulkhead.toml.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Principal this stdio process serves (default: the config's default_principal).", valueName: "name"))
    var principal: String?

    @Option(name: .long, help: ArgumentHelp("Append the audit trail (hash-chained JSON lines) to this file; overrides [audit] path.", valueName: "file"))
    var audit: String?

    @Option(name: .long, help: ArgumentHelp("How tool names are formed: underscore (plugin__tool, accepted by every client; the default) or dotted (plugin.tool, for clients that accept dots); overrides tool_names.", valueName: "style"))
    var toolNames: String?

    @Option(name: .long, help: ArgumentHelp("At shutdown (SIGTERM, SIGINT, end of stdin), how long calls in flight get to answer before they are answered unavailable.", valueName: "seconds"))
    var drainTimeout: Double = 10

    @Option(name: .long, help: ArgumentHelp("Longest incoming message in bytes (default 4194304, 4 MiB); a longer one is answered -32600 and skipped; overrides [limits] message_bytes.", valueName: "bytes"))
    var maxMessageBytes: Int?

    @Option(name: .long, help: ArgumentHelp("Least severe log level on stderr: trace, debug, info (one line per call), notice, warning, error, critical.", valueName: "level"))
    var logLevel: String = "info"

    @Option(name: .long, help: ArgumentHelp("How log lines are written: text, or json (one JSON object per line).", valueName: "format"))
    var logFormat: String = "text"

    @Option(name: .long, help: ArgumentHelp("Serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio (port 0: any free port, logged); overrides [http] listen.", valueName: "host:port"))
    var http: String?

    @Flag(name: .long, help: "With --http (or [http] listen): serve stdio beside HTTP, as --principal; the end of stdin then shuts both down. Without HTTP, stdio is served anyway.")
    var stdio = false

    @Option(name: .long, help: ArgumentHelp("Serve /metrics (Prometheus text), /healthz and /readyz on this address; off by default.", valueName: "host:port"))
    var metrics: String?

    @Flag(name: .long, help: "Refuse to start when any plugin folder is refused, instead of serving the others.")
    var strict = false

    /// How long plugins get, after the drain, to return from calls answered at its
    /// deadline (they see them cancelled) before their destroy is skipped.
    static let destroyGrace: Duration = .milliseconds(500)

    func run() throws {
        // Before any thread exists, so that every thread inherits the mask.
        ShutdownSignals.block()
        // A client that closes its end must not kill the server mid-write.
        signal(SIGPIPE, SIG_IGN)
        // Everything the operator named is checked before anything starts: a
        // wrong path or option is one line on stderr and exit status 2.
        let (level, format) = try CLILogging.settings(level: logLevel, format: logFormat)
        func fail(_ message: String) -> ExitCode { StartupFailure.exit(message, format: format) }
        guard drainTimeout.isFinite, drainTimeout >= 0, drainTimeout <= 86_400 else {
            throw fail("--drain-timeout must be a number of seconds from 0 to 86400 (got \(drainTimeout))")
        }

        var serverConfig: ServerConfig
        if let config {
            switch OperatorPaths.loadConfig(config) {
            case .success(let loaded): serverConfig = loaded
            case .failure(let problem): throw fail("--config \(config): \(problem.message)")
            }
        } else {
            serverConfig = .empty
        }
        if let toolNames {
            guard let naming = ToolNaming(setting: toolNames) else {
                throw fail("--tool-names \(toolNames): unknown style (known: underscore, dotted)")
            }
            serverConfig.toolNaming = naming
        }
        if let maxMessageBytes {
            let range = ServerLimits.range("message_bytes")
            guard range.contains(maxMessageBytes) else {
                throw fail("--max-message-bytes must be from \(range.lowerBound) to \(range.upperBound) (got \(maxMessageBytes))")
            }
            serverConfig.limits.messageBytes = maxMessageBytes
        }
        let httpPlan = try HTTPPlan.make(flag: http, metrics: metrics, config: serverConfig, fail: fail)
        let principalName = principal ?? serverConfig.defaultPrincipal
        guard serverConfig.principals[exactly: principalName] != nil else {
            let defined = OperatorPaths.principalNames(serverConfig)
            throw fail(config.map { "--principal \(principalName): not defined in \($0) (it defines \(defined))" }
                ?? "--principal \(principalName): not defined (without --config the only principal is '\(defined)')")
        }
        let directory = plugins ?? BundledPaths.pluginsDirectory()
        if let problem = PluginFolders.problem(directory) {
            throw fail(plugins == nil ? "plugins directory \(directory) (the default; set --plugins): \(problem)"
                                      : "--plugins \(directory): \(problem)")
        }
        let logger = CLILogging.bootstrap(level: level, format: format)
        let metricsRegistry = httpPlan?.bootstrapMetrics()

        // The protocol keeps private copies of stdin and stdout; fds 0 and 1 are
        // pointed at /dev/null and stderr before any plugin code runs, so a
        // plugin's printf can never corrupt the protocol stream, nor a read of
        // stdin steal a client's message.
        let (protocolIn, protocolOut) = StdioIsolation.takeOverStandardStreams()

        var auditLog: AuditLog?
        if let path = audit ?? serverConfig.auditPath {
            do {
                auditLog = try AuditLog(path: path, server: "bulkhead \(Bulkhead.version)")
            } catch {
                throw fail("\(audit != nil ? "--audit" : "[audit] path"): \(error)")
            }
            logger.info("auditing every call to \(path)")
        }

        var usedNonces: UsedNonces?
        if let folder = serverConfig.consentStateDir {
            do {
                usedNonces = try UsedNonces(directory: folder, logger: logger)
            } catch {
                throw fail("[consent] state_dir: \(error)")
            }
            logger.info("consent: used requestStates are remembered in \(folder)")
        }

        let host = PluginHost(directory: directory, config: serverConfig, audit: auditLog, usedNonces: usedNonces,
                              logger: logger)
        logger.info("serving \(host.pluginNames.count) plugins from \(directory) as principal '\(principalName)'; \(host.refusals.count) refused")
        if strict && !host.refusals.isEmpty {
            let refused = host.refusals.map { "\($0.folder) (\($0.reason))" }.joined(separator: "; ")
            logger.critical("--strict: not serving, \(host.refusals.count) plugin folder\(host.refusals.count == 1 ? " was" : "s were") refused: \(refused)")
            host.shutdown()
            auditLog?.close()
            throw ExitCode(1)
        }
        if host.pluginNames.isEmpty {
            logger.warning("no plugin loaded from \(directory)\(host.refusals.isEmpty ? "" : " (\(host.refusals.count) refused)"): this server serves no tools")
        }

        let identity = ServerIdentity(
            name: "bulkhead", version: Bulkhead.version, title: "Bulkhead",
            instructions: "Tools are named <plugin>\(serverConfig.toolNaming.separator)<tool>; each plugin is one trust domain."
        )
        let limits = serverConfig.limits
        let engineConfiguration = MCPServerConfiguration(maxMessageElements: limits.messageElements,
                                                         maxCallsInFlight: limits.callsInFlight)
        let drain = Duration.milliseconds(Int64((drainTimeout * 1000).rounded()))
        func stdioSide() -> StdioSide {
            let transport = StdioTransport(input: protocolIn, output: protocolOut, maxLineLength: limits.messageBytes,
                                           maxUnsentBytes: limits.unsentBytes, releaseMemory: FreeMemory.release)
            let server = MCPServer(identity: identity, provider: host, principal: principalName, sink: transport.sink,
                                   log: { message in logger.notice("\(message)") }, configuration: engineConfiguration)
            return StdioSide(transport: transport, server: server, drain: drain)
        }
        if let httpPlan {
            do {
                try httpPlan.serve(engine: MCPEngine(identity: identity, provider: host, configuration: engineConfiguration,
                                                     log: { message in logger.notice("\(message)") }),
                                   stdio: stdio ? stdioSide() : nil,
                                   host: host, audit: auditLog, registry: metricsRegistry, defaultPrincipal: principalName, drain: drain, logger: logger)
            } catch {
                logger.critical("\(error)")
                _ = host.shutdown(grace: Self.destroyGrace)
                auditLog?.close()
                throw ExitCode(1)
            }
            Self.finish(host: host, audit: auditLog, logger: logger)
            return
        }
        let side = stdioSide()
        ShutdownSignals.watch(logger: logger) { reason in side.transport.requestDrain(reason: reason) }
        side.run()
        Self.finish(host: host, audit: auditLog, logger: logger)
    }

    /// The end of every transport's run: each plugin destroyed after its last
    /// call returned, then the audit trail closed (every answered call queued its
    /// record before its answer was sent; close writes and syncs them).
    static func finish(host: PluginHost, audit: AuditLog?, logger: Logger) {
        let stuck = host.shutdown(grace: destroyGrace)
        audit?.close()
        if !stuck.isEmpty {
            logger.warning("exiting with plugin(s) \(stuck.joined(separator: ", ")) still inside a call; their destroy did not run")
            // exit() would run the libraries' ELF destructors, the stuck plugin's
            // among them, beside its call; _exit runs nothing, and everything worth
            // keeping (answers, audit) is written already.
            fflush(nil)
            _exit(0)
        }
        logger.info("shut down")
    }
}
