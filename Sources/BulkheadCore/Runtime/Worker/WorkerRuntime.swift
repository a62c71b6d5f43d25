#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Foundation
import Logging

/// The worker tier: the plugin runs in a process of its own, behind the walls
/// `bulkhead-worker` raises before loading it, and reaches the core only
/// through the channel, whose every frame is checked here.
///
/// A worker that dies — crash, exit, abort, seccomp, out of memory or CPU, or
/// killed by us for breaking the protocol or ignoring a deadline — fails only
/// its own calls in flight (answered `unavailable` with `retryAfterMs`), and
/// is restarted with exponential backoff. Past `restart_budget` deaths in a
/// minute the plugin is failed: its tools leave tools/list until the operator
/// restarts the server.
final class WorkerRuntime: PluginRuntime, @unchecked Sendable {
    /// What a worker plugin's RegisteredTool holds: its real function lives in the worker.
    static let remoteTool: bh_tool_fn = { _, _, _ in BH_E_FAILED }

    struct Launch: Sendable {
        var executable: String
        var arguments: [String]
        var plugin: String
        var policy: RuntimePolicy
    }

    /// What the worker said once its walls were up and the library was open.
    struct Hello: Sendable {
        var outcome: bhw_hello_outcome
        var magic: UInt32
        var abi: ABIVersion
        var hasInit: Bool
        var walls: UInt32
        var detail: String
    }

    private enum Phase { case starting, running, restarting, failed, stopping, stopped }

    /// One call in flight, with a condition of its own: an answer wakes its
    /// caller's thread only, not every thread waiting on the worker.
    private final class Waiting {
        let call: CallState
        let condition = NSCondition()
        // Guarded by `condition`.
        var status: bh_status?
        var died: String?
        init(call: CallState) { self.call = call }

        func settle(status: bh_status? = nil, died: String? = nil) {
            condition.lock()
            if self.status == nil && self.died == nil {
                self.status = status
                self.died = died
            }
            condition.signal()
            condition.unlock()
        }
    }

    private let launch: Launch
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var process: WorkerProcess?
    private var hello: Hello?
    private var initDone: (status: bh_status, concurrency: UInt32)?
    private var endReason: String?
    private var phase = Phase.starting
    private var calls: [UInt64: Waiting] = [:]
    private var deaths: [UInt64] = []
    private var restarts = 0
    private var reason: String?
    private var retryAt: UInt64 = 0
    private var walls: UInt32 = 0
    /// Tools registered by a restarted worker: must be the same set as the first time.
    private var reregistered: [String]?
    private var pluginToken: UInt64 = 0
    private var threads: UInt32 = 1
    private var registeredTools: Set<String> = []
    /// Why the current worker is being killed, when it broke the protocol.
    private var pendingViolation: String?
    private weak var instance: PluginInstance?

    init(launch: Launch, logger: Logger) {
        self.launch = launch
        self.logger = logger
    }

    // MARK: Starting

    /// Spawns the worker and waits for its hello (its walls are up and the library is open).
    func start() -> Result<Hello, StartFailure> {
        let spawned: WorkerProcess
        let plugin = launch.plugin
        let logger = self.logger
        let output: @Sendable (String) -> Void = { [weak self] line in
            // Escaped and scrubbed like a host->log line, and marked as the worker's raw output.
            let scrubbed = self?.boundInstance()?.capabilities.scrub(line) ?? line
            logger.warning("plugin '\(plugin)' worker output: \(LogText.escaped(scrubbed, limit: LogText.pluginMessageLimit))")
        }
        switch WorkerProcess.spawn(executable: launch.executable, arguments: launch.arguments, output: output) {
        case .success(let p): spawned = p
        case .failure(let e): return .failure(StartFailure(description: "cannot start \(launch.executable): \(e)"))
        }
        condition.lock()
        process = spawned
        hello = nil
        initDone = nil
        endReason = nil
        condition.unlock()
        spawned.startReading(name: launch.plugin, frame: { [weak self] f in self?.handle(f, from: spawned) },
                             ended: { [weak self] end in self?.ended(spawned, end) })
        let got = waitFor(seconds: 10) { $0.hello }
        switch got {
        case .success(let h):
            condition.lock()
            walls = h.walls
            condition.unlock()
            return .success(h)
        case .failure(let why):
            spawned.kill()
            return .failure(StartFailure(description: "the worker \(why) before it was ready"))
        }
    }

    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs the plugin's init in the worker; its registrations arrive as requests meanwhile.
    func initialize(instance: PluginInstance, threads: Int) -> Result<(status: bh_status, concurrency: UInt32), StartFailure> {
        condition.lock()
        self.instance = instance
        pluginToken = instance.token
        self.threads = UInt32(threads)
        let p = process
        condition.unlock()
        var w = FieldWriter()
        w.u64(instance.token)
        w.u32(UInt32(threads))
        p?.send(WorkerFrame(op: BHW_INIT, payload: w.bytes))
        let got = waitFor(seconds: 60) { $0.initDone }
        switch got {
        case .success(let done):
            condition.lock()
            if case .starting = phase { phase = .running }
            condition.unlock()
            return .success(done)
        case .failure(let why):
            p?.kill()
            return .failure(StartFailure(description: "the worker \(why) during init"))
        }
    }

    /// After init: the tools the instance kept, which a restarted worker must register again.
    func adopt(tools: [String]) {
        condition.lock()
        registeredTools = Set(tools)
        condition.unlock()
    }

    /// Waits until `value` is there, the process ended, or the time is up.
    private func waitFor<T>(seconds: Double, _ value: (WorkerRuntime) -> T?) -> Result<T, WaitFailure> {
        let until = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let v = value(self) { return .success(v) }
            if let endReason { return .failure(WaitFailure(description: endReason)) }
            if !condition.wait(until: until) {
                if let v = value(self) { return .success(v) }
                return .failure(WaitFailure(description: "did not answer within \(Int(seconds)) s"))
            }
        }
    }

    private struct WaitFailure: Error, CustomStringConvertible {
        let description: String
    }

    // MARK: The channel

    private func handle(_ frame: WorkerFrame, from p: WorkerProcess) {
        let op = bhw_op(rawValue: UInt32(frame.op))
        do throws(FieldReader.Malformed) {
            switch op {
            case BHW_HELLO:
                var r = FieldReader(frame.payload)
                let outcome = try r.u32(), magic = try r.u32(), major = try r.u32(), minor = try r.u32()
                let hasInit = try r.u32(), walls = try r.u32(), detail = try r.data()
                try r.end()
                condition.lock()
                let duplicate = hello != nil
                hello = Hello(outcome: bhw_hello_outcome(rawValue: outcome), magic: magic,
                              abi: ABIVersion(major: Int(major), minor: Int(minor)), hasInit: hasInit != 0, walls: walls,
                              detail: String(decoding: detail, as: UTF8.self))
                condition.broadcast()
                condition.unlock()
                if duplicate { return violation(p, "a second hello") }
            case BHW_INIT_DONE:
                var r = FieldReader(frame.payload)
                let status = try r.u32(), concurrency = try r.u32()
                try r.end()
                condition.lock()
                let unexpected = hello == nil || initDone != nil
                initDone = (bh_status(rawValue: Int32(bitPattern: status)), concurrency)
                condition.broadcast()
                condition.unlock()
                if unexpected { return violation(p, "an init answer it was not asked for") }
            case BHW_DONE:
                var r = FieldReader(frame.payload)
                let status = try r.u32()
                try r.end()
                condition.lock()
                let waiting = calls[frame.call]
                condition.unlock()
                guard let waiting else { return violation(p, "an answer for a call that is not in flight") }
                waiting.settle(status: bh_status(rawValue: Int32(bitPattern: status)))
            case BHW_LOG:
                var r = FieldReader(frame.payload)
                let token = try r.u64(), level = try r.u32(), message = try r.data()
                try r.end()
                // As in-process, a line under a handle that is not the plugin's is dropped (and said so).
                guard let instance = boundInstance(), token == instance.token else {
                    logger.warning("plugin '\(launch.plugin)' worker logged under a handle that is not its own: line dropped")
                    return
                }
                let log = {
                    message.withUnsafeBufferPointer { m in
                        instance.table.pointee.log(bh_plugin(token: token), bh_log_level(rawValue: level),
                                                   m.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, m.count)
                    }
                }
                // Logged from inside a call: as in-process, the line is that call's too
                // (a client that asked hears it as notifications/message).
                if frame.call != 0, let call = inFlight(frame.call) {
                    CurrentCall.with(token: frame.call, state: call, log)
                } else {
                    log()
                }
            case _ where op.rawValue >= BHW_REGISTER.rawValue && op.rawValue <= BHW_RESULT_MEDIA.rawValue:
                guard frame.seq != 0 else { return violation(p, "a request without a number") }
                guard let instance = boundInstance() else { return violation(p, "a request before init") }
                let reply: WorkerHostService.Reply
                if op == BHW_REGISTER, let again = reregister(frame) {
                    reply = again
                } else {
                    let service = WorkerHostService(instance: instance) { [weak self] token in self?.inFlight(token) }
                    reply = try service.serve(frame)
                }
                var w = FieldWriter()
                w.status(reply.status)
                var payload = w.bytes + reply.fields.bytes
                var tail = FieldWriter()
                tail.data(reply.lastError)
                payload += tail.bytes
                p.send(WorkerFrame(op: BHW_REPLY, call: frame.call, seq: frame.seq, payload: payload),
                       descriptor: reply.descriptor)
                if reply.descriptor >= 0 { Glibc.close(reply.descriptor) }
            default:
                return violation(p, "a frame of unknown type \(frame.op)")
            }
        } catch {
            violation(p, "a malformed frame of type \(frame.op)")
        }
    }

    private func boundInstance() -> PluginInstance? {
        condition.lock()
        defer { condition.unlock() }
        return pluginToken == 0 ? nil : instance
    }

    private func inFlight(_ token: UInt64) -> CallState? {
        condition.lock()
        defer { condition.unlock() }
        return calls[token]?.call
    }

    /// A restarted worker registering its tools again: the instance's registration
    /// closed long ago, so the answer is whether the name is one it had.
    private func reregister(_ frame: WorkerFrame) -> WorkerHostService.Reply? {
        condition.lock()
        defer { condition.unlock() }
        guard reregistered != nil else { return nil }
        var r = FieldReader(frame.payload)
        guard let token = try? r.u64(), let name = try? r.data(), token == pluginToken else {
            return WorkerHostService.Reply(status: BH_E_STALE)
        }
        let tool = String(decoding: name, as: UTF8.self)
        guard registeredTools.contains(tool), reregistered?.contains(tool) == false else {
            return WorkerHostService.Reply(status: BH_E_NOT_ALLOWED)
        }
        reregistered?.append(tool)
        return WorkerHostService.Reply(status: BH_OK)
    }

    /// The worker broke the protocol: it is killed, and its end restarts it like any death.
    private func violation(_ p: WorkerProcess, _ what: String) {
        logger.error("plugin '\(launch.plugin)' worker (pid \(p.pid)) sent \(what): killed")
        condition.lock()
        if process === p, endReason == nil { pendingViolation = what }
        condition.unlock()
        p.kill()
    }

    private func ended(_ p: WorkerProcess, _ end: WorkerProcess.End) {
        if case .violation(let what) = end {
            logger.error("plugin '\(launch.plugin)' worker (pid \(p.pid)) sent \(what): killed")
            p.kill()
        }
        let how = p.reap()
        condition.lock()
        defer { condition.unlock() }
        guard process === p else { return }
        var why = how
        if case .violation(let what) = end { why = "broke the channel's protocol (\(what)) and was killed" }
        if let v = pendingViolation { why = "broke the channel's protocol (\(v)) and was killed"; pendingViolation = nil }
        endReason = why
        process = nil
        for waiting in calls.values { waiting.settle(died: why) }
        condition.broadcast()
        switch phase {
        case .stopping, .stopped:
            phase = .stopped
        case .starting, .failed:
            break
        case .restarting:
            // A worker being started again: relaunch sees the end and schedules the next try.
            logger.error("plugin '\(launch.plugin)' worker (pid \(p.pid)) \(why)")
        case .running:
            logger.error("plugin '\(launch.plugin)' worker (pid \(p.pid)) \(why)")
            scheduleRestart(after: why)
        }
    }

    /// With `condition` held.
    private func scheduleRestart(after why: String) {
        let now = MonotonicClock.now()
        deaths = deaths.filter { now - $0 < 60_000_000_000 } + [now]
        if deaths.count > launch.policy.restartBudget {
            phase = .failed
            reason = "its worker \(why); \(deaths.count) deaths within a minute spent its restart budget (\(launch.policy.restartBudget)): failed until the server is restarted"
            logger.error("plugin '\(launch.plugin)' failed: \(reason!)")
            instance?.health.store(PluginHealth.failed.rawValue, ordering: .relaxed)
            return
        }
        phase = .restarting
        reason = "its worker \(why); restarting"
        let delay = min(UInt64(100_000_000) << UInt64(min(deaths.count - 1, 6)), 5_000_000_000)
        retryAt = now + delay
        let t = Thread { [self] in
            usleep(UInt32(delay / 1000))
            relaunch(after: why)
        }
        t.name = "bh-restart"
        t.start()
    }

    private func relaunch(after previous: String) {
        condition.lock()
        guard case .restarting = phase else { return condition.unlock() }
        reregistered = []
        condition.unlock()
        let outcome: String?
        switch start() {
        case .failure(let f):
            outcome = f.description
        case .success(let h) where h.outcome != BHW_HELLO_OK:
            outcome = "could not start again: \(h.detail)"
        case .success:
            condition.lock()
            let instance = self.instance
            let threads = Int(self.threads)
            condition.unlock()
            if let instance {
                switch initialize(instance: instance, threads: threads) {
                case .failure(let f): outcome = f.description
                case .success(let done) where done.status != BH_OK: outcome = "init returned \(StatusName.of(done.status)) on restart"
                case .success:
                    condition.lock()
                    let same = Set(reregistered ?? []) == registeredTools
                    condition.unlock()
                    outcome = same ? nil : "registered other tools on restart"
                }
            } else {
                outcome = "has no plugin any more"
            }
        }
        condition.lock()
        defer { condition.unlock() }
        reregistered = nil
        guard case .restarting = phase else { return }
        // It may have died between its init answer and here.
        let failure = outcome ?? (process == nil ? "exited right after it started again (\(endReason ?? "no reason"))" : nil)
        if let failure {
            process?.kill()
            process = nil
            scheduleRestart(after: failure)
            return
        }
        restarts += 1
        phase = .running
        reason = nil
        logger.notice("plugin '\(launch.plugin)' worker restarted (pid \(process?.pid ?? 0)) after it \(previous)")
    }

    // MARK: Calls

    func run(tool: String, registered: RegisteredTool, call: CallState, token: UInt64) -> RunOutcome {
        condition.lock()
        guard case .running = phase, let p = process else {
            let result = unavailable()
            condition.unlock()
            return .failed(result)
        }
        let waiting = Waiting(call: call)
        calls[token] = waiting
        condition.unlock()

        var w = FieldWriter()
        w.data(Array(tool.utf8))
        w.i64(call.deadline.map { Int64($0) } ?? 0)
        // As the call's own thread: the accessors find it without the HandleTable's lock.
        CurrentCall.with(token: token, state: call) { Self.argumentTable(call, token: token, into: &w) }
        p.send(WorkerFrame(op: BHW_CALL, call: token, payload: w.bytes))

        let grace = UInt64(launch.policy.cancelGraceMilliseconds) * 1_000_000
        var cancelSent = false
        var killed = false
        defer {
            condition.lock()
            calls[token] = nil
            condition.unlock()
        }
        let answered = waiting.condition
        answered.lock()
        while true {
            if let status = waiting.status {
                answered.unlock()
                return .returned(status)
            }
            if let died = waiting.died {
                answered.unlock()
                condition.lock()
                let retry = retryAfterMilliseconds()
                condition.unlock()
                return .failed(ToolErrors.result(.unavailable, "plugin '\(launch.plugin)' stopped during the call: its worker \(died); retry in \(retry) ms",
                                                 extra: ["retryAfterMs": .int(Int64(retry))]))
            }
            if !cancelSent, call.isCancelled {
                cancelSent = true
                answered.unlock()
                p.send(WorkerFrame(op: BHW_CANCEL, call: token))
                answered.lock()
                continue
            }
            if !killed, let deadline = call.deadline, MonotonicClock.now() > deadline + grace {
                killed = true
                logger.warning("plugin '\(launch.plugin)' tool '\(tool)' ignored its cancellation \(launch.policy.cancelGraceMilliseconds) ms past its deadline: its worker (pid \(p.pid)) is killed and restarted")
                answered.unlock()
                p.kill()
                answered.lock()
                continue
            }
            // Cancellation and deadlines are noticed within 10 ms; an answer wakes this thread at once.
            _ = answered.wait(until: Date().addingTimeInterval(0.01))
        }
    }

    /// Every top-level argument as the host table's own accessors answer for it,
    /// computed here so that the worker needs no round trip to read its arguments.
    private static func argumentTable(_ call: CallState, token: UInt64, into w: inout FieldWriter) {
        let api = call.plugin.table.pointee
        let handle = bh_call(token: token)
        w.u32(UInt32(call.arguments.count))
        for (key, _) in call.arguments {
            var name = Array(key.utf8)
            name.append(0)  // never a NULL pointer, even for the empty key
            name.withUnsafeBufferPointer { b in
                let k = UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self)
                let n = b.count - 1
                w.data(b[..<n])
                var text = bh_bytes(), json = bh_bytes()
                var i: Int64 = 0, d = 0.0, flag: Int32 = 0
                let s = api.arg_string(handle, k, n, &text)
                w.status(s)
                w.data(s == BH_OK ? text : bh_bytes())
                let si = api.arg_int(handle, k, n, &i)
                w.status(si)
                w.i64(si == BH_OK ? i : 0)
                let sd = api.arg_double(handle, k, n, &d)
                w.status(sd)
                w.f64(sd == BH_OK ? d : 0)
                let sb = api.arg_bool(handle, k, n, &flag)
                w.status(sb)
                w.u32(sb == BH_OK ? UInt32(bitPattern: flag) : 0)
                let sj = api.arg_json(handle, k, n, &json)
                w.status(sj)
                w.data(sj == BH_OK ? json : bh_bytes())
            }
        }
    }

    /// With `condition` held.
    private func unavailable() -> ToolResult {
        let why = reason ?? "its worker is not running"
        let retry = retryAfterMilliseconds()
        if case .failed = phase {
            return ToolErrors.result(.unavailable, "plugin '\(launch.plugin)' is failed: \(why)")
        }
        return ToolErrors.result(.unavailable, "plugin '\(launch.plugin)' is not available: \(why); retry in \(retry) ms",
                                 extra: ["retryAfterMs": .int(Int64(retry))])
    }

    /// With `condition` held.
    private func retryAfterMilliseconds() -> Int {
        let now = MonotonicClock.now()
        return retryAt > now ? Int((retryAt - now) / 1_000_000) + 1 : 100
    }

    var serving: Bool {
        condition.lock()
        defer { condition.unlock() }
        if case .failed = phase { return false }
        return true
    }

    var description: RuntimeDescription {
        condition.lock()
        defer { condition.unlock() }
        let state: String
        switch phase {
        case .running, .starting: state = "ok"
        case .restarting: state = "restarting"
        case .failed: state = "failed"
        case .stopping, .stopped: state = "stopped"
        }
        return RuntimeDescription(isolation: .worker, walls: Self.wallNames(walls), state: state, reason: reason,
                                  pid: process?.pid, restarts: restarts)
    }

    static func wallNames(_ bits: UInt32) -> [String] {
        let names: [(bhw_wall, String)] = [
            (BHW_WALL_USER_NS, "user-namespace"), (BHW_WALL_MOUNT_NS, "mount-namespace"),
            (BHW_WALL_NET_NS, "network-namespace"), (BHW_WALL_PID_NS, "pid-namespace"),
            (BHW_WALL_LANDLOCK, "landlock"), (BHW_WALL_SECCOMP, "seccomp"), (BHW_WALL_RLIMITS, "rlimits"),
            (BHW_WALL_NO_NEW_PRIVS, "no-new-privs"), (BHW_WALL_NOT_DUMPABLE, "not-dumpable"),
        ]
        return names.filter { bits & $0.0.rawValue != 0 }.map(\.1)
    }

    static let allWalls: UInt32 = [BHW_WALL_USER_NS, BHW_WALL_MOUNT_NS, BHW_WALL_NET_NS, BHW_WALL_PID_NS, BHW_WALL_LANDLOCK,
                                   BHW_WALL_SECCOMP, BHW_WALL_RLIMITS, BHW_WALL_NO_NEW_PRIVS, BHW_WALL_NOT_DUMPABLE]
        .reduce(0) { $0 | $1.rawValue }

    // MARK: Stopping

    func stop(until deadline: UInt64) {
        condition.lock()
        phase = .stopping
        let p = process
        condition.unlock()
        guard let p else { return }
        p.send(WorkerFrame(op: BHW_SHUTDOWN))
        // destroy runs in the worker; it gets what is left of the drain, at most 2 s.
        let until = min(deadline, MonotonicClock.now() + 2_000_000_000)
        if !p.exited(before: until) {
            logger.warning("plugin '\(launch.plugin)' worker (pid \(p.pid)) did not exit after shutdown: killed")
            p.kill()
        }
    }
}
