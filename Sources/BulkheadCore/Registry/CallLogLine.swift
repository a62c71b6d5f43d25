import BulkheadProtocol
import Logging

/// The operator's one `info` line per tools/call: who asked, which tool, how
/// it ended and how long the core took to answer. Emitted where the core
/// completes the call, so every way a call can end is counted once.
enum CallLogLine {
    /// The outcome words the audit trail uses too, and the error kind when there is one.
    static func outcome(of result: ToolCallOutcome) -> (outcome: String, kind: String?) {
        switch result {
        case .result(let r):
            guard r.isError else { return ("ok", nil) }
            return ("error", r.structuredContent?.objectValue?["kind"]?.stringValue)
        case .unknownTool: return ("unknown_tool", nil)
        case .inputRequired: return ("input_required", nil)
        case .error(let e): return ("protocol_error", String(e.code))
        }
    }

    static func emit(_ logger: Logger, tool: String, principal: Principal, plugin: String?, outcome: String,
                     kind: String?, started: UInt64) {
        let micros = (MonotonicClock.now() &- started) / 1000
        let ms = Double(micros) / 1000
        var metadata: Logger.Metadata = [
            "principal": .string(principal.name),
            "tenant": .string(principal.tenant),
            "tool": .string(tool),
            "outcome": .string(outcome),
            "ms": .stringConvertible(ms),
        ]
        if let plugin { metadata["plugin"] = .string(plugin) }
        if let kind { metadata["kind"] = .string(kind) }
        logger.info("call \(tool) by \(principal.name): \(outcome)\(kind.map { " (\($0))" } ?? "") in \(ms) ms",
                    metadata: metadata)
    }
}
