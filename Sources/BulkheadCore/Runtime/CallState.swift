#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Synchronization

/// Answers whether a caller may read a URI of a plugin, and its MIME type: the
/// served union does (a reference, so a call carries no closure of its own).
protocol ResourceReadability: AnyObject, Sendable {
    func readable(_ uri: String, in plugin: PluginInstance, by principal: Principal) -> (mimeType: String?, allowed: Bool)
}

/// What a call is for, which decides what its results become.
enum CallKind: Sendable {
    /// A tools/call: content blocks and structured content.
    case tool
    /// A resources/read of `uri`: resource contents; `mimeType` is the manifest's.
    case read(uri: String, mimeType: String?)
    /// A prompts/get: messages.
    case prompt
    /// The plugin's resource list (resources/list): Resource entries.
    case list
    /// completion/complete: suggested values, one result_text each.
    case completion

    var noun: String {
        switch self {
        case .tool: "tool"
        case .read: "resource"
        case .prompt: "prompt"
        case .list: "resource list"
        case .completion: "completion"
        }
    }
}

/// One call in progress (a tool call, a resource read, a prompt get or a
/// resource listing): what the plugin reads (arguments, caller, deadline,
/// cancellation) and what it has answered so far.
final class CallState: Sendable {
    let plugin: PluginInstance
    let tool: String
    let kind: CallKind
    /// Who says whether the caller may read a URI the plugin names in result_resource
    /// (it is the plugin's, declared, and allowed by policy); nil: none may be named.
    let resources: (any ResourceReadability)?
    let arguments: JSONObject
    let principal: Principal
    /// Monotonic nanoseconds at which the call times out, or nil.
    let deadline: UInt64?
    /// Most bytes of text and structured content the plugin may hand back (the policy's result_bytes).
    let resultLimit: Int
    /// The tool's output schema, when the manifest declares one: structured content must match it.
    let outputValidator: JSONSchemaValidator?
    /// Where progress and log lines go when the client asked for them; nil when it did not.
    let notifications: (any CallNotifier)?
    let cancelledFlag = Atomic<Bool>(false)
    /// The plugin's function is about to be or has been entered.
    let running = Atomic<Bool>(false)
    /// The deadline answered the caller while the plugin was inside the call.
    let overran = Atomic<Bool>(false)
    /// Set by whoever answers the caller first: the plugin's return, or the deadline.
    private let answered = Atomic<Bool>(false)

    /// True exactly once: for the first of the plugin's return and the deadline to get here.
    func claimAnswer() -> Bool {
        answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    struct Answer: ~Copyable {
        var content: [JSONValue] = []
        var structured: JSONValue?
        var error: (kind: ErrorKind, message: String)?
        var bytes = 0
        var lent = BorrowedBytes()
        var argumentsJSON: bh_bytes?
        var caller: (principal: bh_bytes, tenant: bh_bytes, scopes: bh_bytes)?
        /// The plugin tried to hand back more than resultLimit.
        var overflowed = false
        /// Why the plugin's last refused result was refused, for the client's `internal`
        /// when it then sets nothing valid.
        var refusal: String?
        /// Provenance: what the answer came from, and what it left out (by bh_exclusion).
        var sources: [JSONValue] = []
        var excluded: [Int32: (count: UInt64, why: String)] = [:]
    }

    let answer = Mutex(Answer())

    init(plugin: PluginInstance, tool: String, arguments: JSONObject, principal: Principal, deadline: UInt64?,
         resultLimit: Int = Limits.defaults.resultBytes, outputValidator: JSONSchemaValidator? = nil,
         notifications: (any CallNotifier)? = nil, kind: CallKind = .tool,
         resources: (any ResourceReadability)? = nil) {
        self.notifications = notifications
        self.kind = kind
        self.resources = resources
        self.plugin = plugin
        self.tool = tool
        self.arguments = arguments
        self.principal = principal
        self.deadline = deadline
        self.resultLimit = resultLimit
        self.outputValidator = outputValidator
    }

    var pastDeadline: Bool {
        if let deadline { return MonotonicClock.now() >= deadline }
        return false
    }

    var isCancelled: Bool {
        if cancelledFlag.load(ordering: .relaxed) { return true }
        if let deadline, MonotonicClock.now() >= deadline { return true }
        return false
    }

    /// Turns what the plugin answered (and the status its function returned) into an MCP result.
    func finish(status: bh_status) -> ToolResult {
        answer.withLock { a in
            defer { a.lent.releaseAll() }
            if let error = a.error {
                return ToolErrors.result(error.kind, error.message)
            }
            if a.overflowed {
                return ToolErrors.result(.tooLarge, "the result of '\(plugin.name).\(tool)' exceeds the \(resultLimit) bytes this plugin's policy allows (result_bytes)")
            }
            let refused = a.refusal.map { " (\($0))" } ?? ""
            let noun = kind.noun
            if status != BH_OK {
                return ToolErrors.result(.internal, "plugin '\(plugin.name)' \(noun) '\(tool)' returned \(StatusName.of(status)) without setting a result\(refused)")
            }
            var meta: JSONObject?
            if !a.sources.isEmpty || !a.excluded.isEmpty {
                var parts: JSONObject = [:]
                if !a.sources.isEmpty { parts["sources"] = .array(a.sources) }
                if !a.excluded.isEmpty {
                    parts["excluded"] = .array(a.excluded.keys.sorted().map { k in
                        let e = a.excluded[k]!
                        var o: JSONObject = ["reason": .string(k == Int32(bitPattern: BH_EXCLUDED_TRUNCATED.rawValue) ? "truncated" : "filtered"),
                                             "count": .int(Int64(clamping: e.count))]
                        if !e.why.isEmpty { o["note"] = .string(e.why) }
                        return .object(o)
                    })
                }
                meta = ["bulkhead/provenance": .object(parts)]
            }
            switch kind {
            case .tool: break
            case .read:
                var contents = a.content
                if let s = a.structured { contents.append(ResourceContent.json(s, call: self)) }
                // MCP: a read never answers with empty contents.
                if contents.isEmpty {
                    return ToolErrors.result(.internal, "plugin '\(plugin.name)' returned BH_OK from resource '\(tool)' without contents\(refused)")
                }
                return ToolResult(content: contents, meta: meta)
            case .prompt:
                if a.content.isEmpty {
                    return ToolErrors.result(.internal, "plugin '\(plugin.name)' returned BH_OK from prompt '\(tool)' without a message\(refused)")
                }
                return ToolResult(content: a.content, meta: meta)
            case .list, .completion:
                return ToolResult(content: a.content, meta: meta)
            }
            // An empty success would tell the client the call worked and hand it nothing.
            if a.content.isEmpty && a.structured == nil {
                return ToolErrors.result(.internal, "plugin '\(plugin.name)' returned BH_OK from tool '\(tool)' without a result\(refused)")
            }
            // MCP: a tool with an output schema must answer with structured content.
            if outputValidator != nil && a.structured == nil {
                return ToolErrors.result(.internal, "plugin '\(plugin.name)' tool '\(tool)' declares an output_schema but set no structured content\(refused)")
            }
            var content = a.content
            if content.isEmpty, let s = a.structured {
                // Clients that ignore structuredContent still get the data.
                content = [["type": "text", "text": .string(String(decoding: s.serialized(), as: UTF8.self))]]
            }
            return ToolResult(content: content, structuredContent: a.structured, meta: meta)
        }
    }
}

/// Monotonic time in nanoseconds, for deadlines.
enum MonotonicClock {
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Printable names of bh_status values, for messages.
enum StatusName {
    static func of(_ s: bh_status) -> String {
        switch s {
        case BH_OK: "BH_OK"
        case BH_E_INVALID: "BH_E_INVALID"
        case BH_E_NOT_FOUND: "BH_E_NOT_FOUND"
        case BH_E_TYPE: "BH_E_TYPE"
        case BH_E_NOT_ALLOWED: "BH_E_NOT_ALLOWED"
        case BH_E_STALE: "BH_E_STALE"
        case BH_E_TOO_LARGE: "BH_E_TOO_LARGE"
        case BH_E_CANCELLED: "BH_E_CANCELLED"
        case BH_E_UNSUPPORTED: "BH_E_UNSUPPORTED"
        case BH_E_IO: "BH_E_IO"
        case BH_E_FAILED: "BH_E_FAILED"
        default: "status \(s.rawValue)"
        }
    }
}

extension CallState {
    /// Refuses a result the plugin handed over: the reason is left for
    /// host->last_error and kept for the client's `internal` should the plugin
    /// then set nothing valid.
    func refuse(_ a: inout Answer, _ status: bh_status, _ reason: String) -> bh_status {
        LastError.set(reason)
        a.refusal = reason
        return status
    }

    /// BH_E_TOO_LARGE when `length` more bytes would take the result past
    /// resultLimit; nil when they fit. Written so that no length, however
    /// large, can overflow the sum (a size_t past Int.max arrives negative).
    func refuseOversized(_ a: inout Answer, _ length: Int, _ function: String) -> bh_status? {
        guard length < 0 || length > resultLimit - a.bytes else { return nil }
        a.overflowed = true
        let size = length < 0 ? String(UInt(bitPattern: length)) : String(length)
        return refuse(&a, BH_E_TOO_LARGE, "\(function): \(size) bytes would take the result past the \(resultLimit) bytes this tool's policy allows (result_bytes); \(a.bytes) already set")
    }
}
