import Logging

/// Every log line goes to stderr: on stdio, stdout belongs to the protocol.
enum CLILogging {
    static func bootstrap(level: String) -> Logger {
        let parsed = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return handler
        }
        return Logger(label: "bulkhead")
    }
}
