import BulkheadCore
import Logging

/// Every log line goes to stderr: on stdio, stdout belongs to the protocol.
enum CLILogging {
    static let levels = Logger.Level.allCases.map(\.rawValue)

    static func bootstrap(level: Logger.Level, format: LogFormat) -> Logger {
        LoggingSystem.bootstrap { label in
            OperatorLogHandler(label: label, format: format, level: level)
        }
        return Logger(label: "bulkhead")
    }

    /// The level and format the operator asked for, or the one line saying which is wrong.
    static func settings(level: String, format: String) throws -> (Logger.Level, LogFormat) {
        // The format first: a failure is then written in it when it is known.
        guard let parsedFormat = LogFormat(rawValue: format) else {
            throw StartupFailure.exit("--log-format \(format): unknown format (known: text, json)")
        }
        guard let parsedLevel = Logger.Level(rawValue: level) else {
            throw StartupFailure.exit("--log-level \(level): unknown level (known: \(levels.joined(separator: ", ")))",
                                      format: parsedFormat)
        }
        return (parsedLevel, parsedFormat)
    }
}
