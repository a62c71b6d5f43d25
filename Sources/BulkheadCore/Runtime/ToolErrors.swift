import BulkheadProtocol
import CBulkhead

/// The kinds of tool failure a client can act on (DESIGN.md decision 9).
public enum ErrorKind: String, Sendable, CaseIterable {
    case invalidArgument = "invalid_argument"
    case notFound = "not_found"
    case notAllowed = "not_allowed"
    case unavailable
    case timeout
    case cancelled
    case tooLarge = "too_large"
    case `internal`
    case consentRequired = "consent_required"

    /// The kind a plugin named with a bh_error_kind, or nil for a value this core does not know.
    init?(_ kind: bh_error_kind) {
        switch kind {
        case BH_ERROR_INVALID_ARGUMENT: self = .invalidArgument
        case BH_ERROR_NOT_FOUND: self = .notFound
        case BH_ERROR_NOT_ALLOWED: self = .notAllowed
        case BH_ERROR_UNAVAILABLE: self = .unavailable
        case BH_ERROR_TIMEOUT: self = .timeout
        case BH_ERROR_CANCELLED: self = .cancelled
        case BH_ERROR_TOO_LARGE: self = .tooLarge
        case BH_ERROR_INTERNAL: self = .internal
        case BH_ERROR_CONSENT_REQUIRED: self = .consentRequired
        default: return nil
        }
    }
}

/// Builds the `isError` results every tool failure is reported with: the kind
/// and message in structuredContent for machines, the same in text for clients
/// that only read content.
public enum ToolErrors {
    public static func result(_ kind: ErrorKind, _ message: String, extra: JSONObject = [:]) -> ToolResult {
        var structured: JSONObject = ["kind": .string(kind.rawValue), "message": .string(message)]
        for (k, v) in extra { structured[k] = v }
        return ToolResult(
            content: [["type": "text", "text": .string("\(kind.rawValue): \(message)")]],
            structuredContent: .object(structured),
            isError: true
        )
    }
}
