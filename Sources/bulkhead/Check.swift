import ArgumentParser
import BulkheadCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check one plugin folder, or a whole configuration (--config with --plugins), and report every problem.",
        discussion: """
            For each plugin folder: reads the manifest and policy, resolves the capabilities,
            checks the ABI, loads the library, runs its init and compares the tools it
            registers with the manifest, going on past a problem as far as the next stage
            still means something. Prints what the plugin is, each capability it requests
            with what the operator granted and what it effectively gets, and one 'problem:'
            line per problem.

            With --plugins DIR, checks every folder serve would load from DIR, in serve's
            order; with --config FILE, also the configuration itself and every [[allow]] and
            [[preapprove]] rule against its principals, scopes and tenants.

            Writes nothing where serve would: a missing read-write root is not created (a
            note says serve would), and init gets an empty temporary folder in place of each
            read-write root, removed afterwards. Read-only roots are the real ones.

            Exits 0 when everything is in order, 1 when there is a problem (serve would
            refuse a plugin or the configuration, or a rule names someone who does not
            exist), 2 when the check cannot start (a wrong path or option).
            """
    )

    @Argument(help: ArgumentHelp("One plugin folder (holding manifest.toml).", valueName: "path"))
    var path: String?

    @Option(name: .long, help: ArgumentHelp("Check every plugin folder in this directory, as serve would load it.", valueName: "dir"))
    var plugins: String?

    @Option(name: .long, help: ArgumentHelp("The server configuration (bulkhead.toml) policies are checked against.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Least severe log level on stderr.", valueName: "level"))
    var logLevel: String = "warning"

    @Option(name: .long, help: ArgumentHelp("How log lines are written: text or json.", valueName: "format"))
    var logFormat: String = "text"

    func run() throws {
        let (level, format) = try CLILogging.settings(level: logLevel, format: logFormat)
        func fail(_ message: String) -> ExitCode { StartupFailure.exit(message, format: format) }
        if path != nil && plugins != nil { throw fail("give one plugin folder or --plugins DIR, not both") }
        guard path != nil || plugins != nil else {
            throw fail("give a plugin folder, or --plugins DIR (with --config FILE) to check a whole configuration")
        }
        if let plugins, let problem = PluginFolders.problem(plugins) { throw fail("--plugins \(plugins): \(problem)") }
        let logger = CLILogging.bootstrap(level: level, format: format)

        var problems = 0
        var serverConfig = ServerConfig.empty
        var against: (config: ServerConfig, name: String)?
        if let config {
            switch OperatorPaths.loadConfig(config) {
            case .success(let loaded):
                serverConfig = loaded
                against = (loaded, config)
                print("config:      \(config): principals \(OperatorPaths.principalNames(loaded)); default \(loaded.defaultPrincipal)")
            case .failure(let problem):
                // Reported, and the folders still checked: every problem at once.
                print("config:      \(config)")
                print("problem: \(config): \(problem.message)")
                print("note: the policies' rules were not checked against principals: the configuration did not load")
                problems += 1
            }
        }

        if let path {
            let report = PluginCheckReport.run(folder: path, naming: serverConfig.toolNaming, config: against, logger: logger)
            Self.printReport(report, folder: path)
            problems += report.problems.count
            if problems > 0 { throw ExitCode(1) }
            return
        }

        let directory = plugins!
        guard let folders = DirectoryCheck.run(directory: directory, naming: serverConfig.toolNaming, config: against,
                                               logger: logger) else {
            throw fail("--plugins \(directory): cannot read it")
        }
        print("plugins:     \(directory): \(folders.count) plugin folder\(folders.count == 1 ? "" : "s")")
        if config == nil {
            print("note: without --config the policies' rules are not checked against principals")
        }
        if folders.isEmpty { print("note: no plugin folder (a folder holding \(PluginManifest.fileName)): serve would serve no tools") }
        for folder in folders {
            print("")
            print("== \(folder.name)")
            Self.printReport(folder.report, folder: folder.path)
            problems += folder.report.problems.count
        }
        let refused = folders.filter { !$0.report.loads }.count
        print("")
        print("summary:     \(folders.count - refused) of \(folders.count) plugin folders would load, \(refused) refused; \(problems) problem\(problems == 1 ? "" : "s")")
        if problems > 0 { throw ExitCode(1) }
    }

    private static func printReport(_ report: PluginCheckReport, folder path: String) {
        print("plugin:      \(report.name ?? "?") \(report.version ?? "")")
        print("folder:      \(path)")
        print("abi:         library \(report.libraryABI ?? "?"), manifest \(report.manifestABI ?? "?"), core \(report.coreABI)")
        if let c = report.concurrency { print("concurrency: \(c)") }
        if let tier = report.isolation {
            print("isolation:   \(tier)\(tier == "worker" ? "; walls: \(report.walls.isEmpty ? "none up" : report.walls.joined(separator: ", "))" : " (no walls but the host table's checks)")")
        }
        for tool in report.tools {
            print("tool:        \(tool.served) (\(tool.access))\(tool.registered ? "" : " — not registered")")
        }
        for r in report.resources {
            print("resource:    \(r.uri)\(r.registered ? "" : " — not registered")")
        }
        for p in report.prompts {
            print("prompt:      \(p.served)\(p.registered ? "" : " — not registered")")
        }
        for cap in report.capabilities {
            print("capability:  \(cap.name) (\(cap.kind)) — \(cap.reason)")
            print("             requested: \(cap.requested); granted: \(cap.granted); effective: \(cap.effective)")
        }
        for note in report.notes { print("note: \(note)") }
        for problem in report.problems { print("problem: \(problem)") }
        print(report.ok ? "ok" : "\(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")")
    }
}
