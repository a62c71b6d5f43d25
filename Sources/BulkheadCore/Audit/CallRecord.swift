#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol

/// The fields of one call's audit record: enough to answer who asked, under
/// which scope, what the gate decided, what came back and why it failed,
/// without the transcript. Arguments appear only as a digest (failure
/// messages that quote them are redacted, see ``AuditRedaction``); results
/// only as their kind and size.
struct CallRecord {
    var tool: String
    var principal: Principal
    var context: RequestContext
    /// What was used: the record names it under "tool", "resource" or "prompt".
    var primitive: Primitive = .tool
    var started = MonotonicClock.now()

    /// outcome: "ok", "error", "input_required", "not_visible" (a tool the
    /// caller may not see) or "unknown_tool".
    func fields(outcome: String, plugin: PluginInstance? = nil, access: String? = nil, consent: String? = nil,
                result: ToolResult? = nil, arguments: JSONObject? = nil, clamped: [JSONValue] = []) -> JSONObject {
        var f: JSONObject = [
            "time": .string(Self.timestamp()),
            primitive.rawValue: .string(tool),
            "principal": .string(principal.name),
            "tenant": .string(principal.tenant),
            "scopes": .array(principal.scopes.map(JSONValue.string)),
            "era": .string(context.era.version),
        ]
        if let id = context.requestID { f["request"] = id.json }
        if let plugin {
            f["plugin"] = .string(plugin.name)
            f["plugin_version"] = .string(plugin.manifest.version)
        }
        if let access { f["access"] = .string(access) }
        if let consent { f["consent"] = .string(consent) }
        f["outcome"] = .string(outcome)
        if let result, result.isError, case .object(let sc)? = result.structuredContent {
            if let kind = sc["kind"] { f["kind"] = kind }
            if let message = sc["message"]?.stringValue {
                f["message"] = .string(AuditRedaction.message(message, arguments: arguments))
            }
        }
        if let result, !result.isError {
            f["result_bytes"] = .int(Int64(result.content.reduce(0) { $0 + ($1.objectValue?["text"]?.stringValue?.utf8.count ?? 0) }))
        }
        if let arguments { f["args_sha256"] = .string(ArgumentDigest.of(arguments)) }
        // The sources an answer drew on: URIs and versions, never their contents.
        if let result, case .array(let sources)? = result.meta?["bulkhead/provenance"]?["sources"], !sources.isEmpty {
            f["sources"] = .array(sources.map { s in
                var o: JSONObject = [:]
                if let u = s["uri"] { o["uri"] = u }
                if let v = s["version"] { o["version"] = v }
                return .object(o)
            })
        }
        // Which fields were clamped, not to what: the values are the caller's arguments.
        if !clamped.isEmpty { f["clamped"] = .array(clamped.compactMap { $0["field"] }) }
        f["ms"] = .double(Double((MonotonicClock.now() - started) / 1000) / 1000)
        return f
    }

    static func timestamp() -> String { Timestamp.now() }
}
