import CBulkhead

/// The in-process tier: the tool function is called on the executor's thread,
/// inside the server. Fast (a function call), and walled only by the host
/// table: a plugin here can read the server's memory and crash it.
final class InProcessRuntime: PluginRuntime, @unchecked Sendable {
    // The plugin's host table: allocated by its PluginInstance, which outlives this runtime.
    private let table: UnsafeMutablePointer<bh_host_api>

    init(table: UnsafeMutablePointer<bh_host_api>) { self.table = table }

    func run(tool: String, registered: RegisteredTool, call: CallState, token: UInt64) -> RunOutcome {
        let status = CurrentCall.with(token: token, state: call) {
            registered.function(table, bh_call(token: token), registered.userData)
        }
        return .returned(status)
    }

    var serving: Bool { true }

    var description: RuntimeDescription {
        RuntimeDescription(isolation: .inProcess, walls: [], state: "ok", reason: nil, pid: nil, restarts: 0)
    }

    // destroy runs in PluginInstance.shutdown, on the core's side of the call.
    func stop(until deadline: UInt64) {}
}
