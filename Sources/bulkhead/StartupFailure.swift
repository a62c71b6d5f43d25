import ArgumentParser
import BulkheadCore

/// Why serve or check cannot start: a wrong path or option. The operator gets
/// one line on stderr naming it (no usage text to scroll past) and exit status 2.
enum StartupFailure {
    static let status: Int32 = 2

    /// Writes the line and returns the ExitCode to throw.
    static func exit(_ message: String, format: LogFormat = .text) -> ExitCode {
        switch format {
        case .text:
            OperatorLogHandler.standardError("bulkhead: " + LogText.escaped(message))
        case .json:
            OperatorLogHandler.standardError(OperatorLogHandler.line(
                time: Timestamp.now(), level: .critical, label: "bulkhead", message: message, metadata: [:], format: .json))
        }
        return ExitCode(status)
    }
}
