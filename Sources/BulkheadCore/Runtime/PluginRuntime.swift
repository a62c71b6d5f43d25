import BulkheadProtocol
import CBulkhead

/// Where a plugin's tool functions run: the seam between the gate, which is
/// the same for every plugin, and the two tiers. The caller (the plugin's
/// executor thread) has registered the call's token and blocks in `run`
/// until the tool function has returned or can no longer return.
protocol PluginRuntime: AnyObject, Sendable {
    /// Runs one registered tool for the call behind `token`.
    func run(tool: String, registered: RegisteredTool, call: CallState, token: UInt64) -> RunOutcome
    /// Whether the plugin serves calls at all; false once it failed for good.
    var serving: Bool { get }
    /// For `bulkhead check` and admin.status.
    var description: RuntimeDescription { get }
    /// After the last call returned: ends the plugin's side (a worker is told to
    /// run destroy and exit, and killed if it does not within `deadline`).
    func stop(until deadline: UInt64)
}

enum RunOutcome: Sendable {
    /// The tool function returned this status; the call's results are in its CallState.
    case returned(bh_status)
    /// The tool function will never return (its worker died): answer this instead.
    case failed(ToolResult)
}

/// What admin.status and `bulkhead check` say of a plugin's tier.
struct RuntimeDescription: Sendable {
    var isolation: RuntimePolicy.Isolation
    /// The walls up around the plugin's code, by name; empty in-process.
    var walls: [String]
    /// "ok", "restarting" or "failed".
    var state: String
    /// Why it is restarting or failed.
    var reason: String?
    /// The worker's process id, while one runs.
    var pid: Int32?
    var restarts: Int

    var json: JSONObject {
        var o: JSONObject = [
            "isolation": .string(isolation.rawValue),
            "walls": .array(walls.map(JSONValue.string)),
            "state": .string(state),
            "restarts": .int(Int64(restarts)),
        ]
        if let reason { o["reason"] = .string(reason) }
        if let pid { o["pid"] = .int(Int64(pid)) }
        return o
    }
}
