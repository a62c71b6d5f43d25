import ArgumentParser
import BulkheadCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load one plugin folder without serving it, and report every problem.",
        discussion: """
            Reads the manifest and policy, checks the ABI, loads the library, runs its
            init and compares the tools it registers with the manifest. Prints what the
            plugin is, each capability it requests with what the operator granted and
            what it effectively gets, and one 'problem:' line per problem. Exits 0 when the plugin would
            load, 1 when it would be refused.
            """
    )

    @Argument(help: ArgumentHelp("The plugin folder (holding manifest.toml).", valueName: "path"))
    var path: String

    @Option(name: .long, help: ArgumentHelp("Least severe log level on stderr.", valueName: "level"))
    var logLevel: String = "warning"

    func run() throws {
        let logger = CLILogging.bootstrap(level: logLevel)
        let report = PluginCheckReport.run(folder: path, logger: logger)
        print("plugin:      \(report.name ?? "?") \(report.version ?? "")")
        print("folder:      \(path)")
        print("abi:         library \(report.libraryABI ?? "?"), manifest \(report.manifestABI ?? "?"), core \(report.coreABI)")
        if let c = report.concurrency { print("concurrency: \(c)") }
        for tool in report.tools {
            print("tool:        \(tool.served) (\(tool.access))\(tool.registered ? "" : " — not registered")")
        }
        for cap in report.capabilities {
            print("capability:  \(cap.name) (\(cap.kind)) — \(cap.reason)")
            print("             requested: \(cap.requested); granted: \(cap.granted); effective: \(cap.effective)")
        }
        for note in report.notes { print("note: \(note)") }
        for problem in report.problems { print("problem: \(problem)") }
        print(report.ok ? "ok" : "\(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")")
        if !report.ok { throw ExitCode(1) }
    }
}
