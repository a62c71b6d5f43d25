#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Logging
import Synchronization

/// The gate: one pipeline every tool call, resource read, prompt get and
/// resource listing passes through, in order — visibility (what a caller may
/// not use answers exactly as what does not exist), shutdown, argument size,
/// schema (after clamping), consent for writes, rate and concurrency, the
/// deadline, the plugin's own thread, and the audit record before the answer.
extension PluginHost {
    /// Passes one request through the gate to `found`'s plugin function: tools,
    /// resource reads, prompt gets and resource listings alike. `name` is what
    /// messages and the audit call it (a served tool or prompt name, a resource's
    /// URI or template); `found` nil means nothing of that name exists.
    func pass(_ found: ServedEntry?, name: String, arguments: JSONObject, kind: CallKind, context: RequestContext,
              complete answer: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        let principal = self.principal(of: context)
        let logsCalls = logger.logLevel <= .info
        let started = logsCalls ? MonotonicClock.now() : 0
        // Built only when auditing: this is the hot path.
        let record = audit.map { _ in CallRecord(tool: name, principal: principal, context: context, primitive: found?.primitive ?? kind.primitive) }
        // A tool this caller may not call answers exactly like one that does not
        // exist, so that refusals cannot be used to find out what is there.
        // The audit, which only the operator reads, tells the two apart.
        // The rule that lets the caller in, found once: it decides visibility and provenance names it.
        // A listing is shown to whoever may read some resource of the plugin (entries are filtered after).
        let rule: Int? = found.flatMap { e in
            if case .list = kind { return e.plugin.policy.access.allowsAny(principal, .resource) ? -1 : nil }
            return e.plugin.policy.access.ruleIndex(principal, e.primitive, e.policyName)
        }
        guard let entry = found, let rule else {
            // A caller proven by an OAuth token that would be let in with a scope it lacks
            // is told which, so its client can ask for a token that has it (step-up).
            if context.caller != nil, let entry = found {
                let missing = entry.plugin.policy.access.missingScopes(principal, entry.primitive, tool: entry.policyName)
                if !missing.isEmpty {
                    let error = JSONRPCErrorObject.insufficientScope(
                        missing, message: "the token lacks a scope \(name) needs: one of \(missing.joined(separator: ", "))")
                    if let audit, let record {
                        audit.record(record.fields(outcome: "insufficient_scope", plugin: entry.plugin)) { answer(.error(error)) }
                    } else {
                        answer(.error(error))
                    }
                    return nil
                }
            }
            let outcome = found == nil ? "unknown_\(kind.primitive.rawValue)" : "not_visible"
            if CoreMetrics.enabled {
                // Counted as unknown either way, as the client sees it, and under no name it chose.
                CoreMetrics.count(plugin: "", tool: "(unknown)", outcome: "unknown_tool", kind: nil)
            }
            if logsCalls {
                CallLogLine.emit(logger, tool: name, principal: principal, plugin: found?.plugin.name,
                                 outcome: outcome, kind: nil, started: started)
            }
            if let audit, let record {
                audit.record(record.fields(outcome: outcome, plugin: found?.plugin)) {
                    answer(.unknownTool(name))
                }
            } else {
                answer(.unknownTool(name))
            }
            return nil
        }
        let plugin = entry.plugin
        // Every way the call ends below goes through here: one line each.
        let logged: @Sendable (ToolCallOutcome) -> Void
        if logsCalls {
            let logger = self.logger
            logged = { outcome in
                let (word, kind) = CallLogLine.outcome(of: outcome)
                CallLogLine.emit(logger, tool: name, principal: principal, plugin: plugin.name, outcome: word, kind: kind,
                                 started: started)
                answer(outcome)
            }
        } else {
            logged = answer
        }
        let complete: @Sendable (ToolCallOutcome) -> Void
        if CoreMetrics.enabled {
            let call = CoreMetrics.Call(plugin: plugin.name, tool: entry.tool.name)
            complete = { outcome in
                let (word, kind) = CallLogLine.outcome(of: outcome)
                call.finished(outcome: word, kind: kind)
                logged(outcome)
            }
        } else {
            complete = logged
        }
        let audit = self.audit
        let access = entry.tool.access.rawValue
        var provenance: JSONObject = [
            "plugin": .string(plugin.name),
            "version": .string(plugin.manifest.version),
            "trustDomain": .string(plugin.name),
            entry.primitive.rawValue: .string(entry.policyName),
            "access": .string(entry.tool.access.rawValue),
            "principal": .string(principal.name),
            "tenant": .string(principal.tenant),
            // The filters the answer was made under: whose tenant, and the limits that bound it.
            "scope": ["tenant": .string(principal.tenant),
                      "limits": ["result_bytes": .int(Int64(entry.limits.resultBytes)),
                                 "deadline_ms": .int(Int64(entry.limits.deadlineMilliseconds))]],
        ]
        if rule >= 0 { provenance["rule"] = .string("\(PluginPolicy.fileName) [[allow]] #\(rule + 1)") }
        if case .read(let uri, _) = kind {
            provenance["uri"] = .string(uri)
            provenance["freshness"] = ["ttlMs": .int(entry.ttlMilliseconds ?? 0)]
        }
        let refuse: @Sendable (ToolResult) -> Void = { [provenance] result in
            var result = result
            plugin.errors.wrappingAdd(1, ordering: .relaxed)
            result.meta = ["bulkhead/provenance": .object(provenance)]
            if let audit, let record {
                audit.record(record.fields(outcome: "error", plugin: plugin, access: access, result: result, arguments: arguments)) { [result] in
                    complete(.result(result))
                }
            } else {
                complete(.result(result))
            }
        }
        let limits = entry.limits

        if draining.load(ordering: .relaxed) {
            refuse(ToolErrors.result(.unavailable, "the server is shutting down; \(name) was not run"))
            return nil
        }

        // The gate, in order: size, schema (after clamping), rate and concurrency.
        if !arguments.isEmpty && ArgumentSize.upperBound(arguments) > limits.argumentBytes {
            let size = JSONValue.object(arguments).serialized().count
            if size > limits.argumentBytes {
                refuse(ToolErrors.result(.tooLarge, "the arguments are \(size) bytes; this tool's policy allows \(limits.argumentBytes) (argument_bytes)"))
                return nil
            }
        }
        let checked: ArgumentCheck.Passed
        switch ArgumentCheck.run(arguments, tool: entry.tool, clamps: entry.clamps) {
        case .success(let passed): checked = passed
        case .failure(let box):
            refuse(box.result)
            return nil
        }
        if !checked.clamped.isEmpty { provenance["clamped"] = .array(checked.clamped) }

        let cancellation = CallCancellation()
        if entry.tool.access == .read {
            // Reads never ask: straight on, without the consent machinery.
            let finishedRecord = Self.auditor(audit, record, plugin: plugin, access: access, consent: nil, checked: checked)
            dispatch(entry, kind: kind, name: name, principal: principal, arguments: checked.arguments, clamped: checked.clamped,
                     provenance: provenance, cancellation: cancellation, notifications: context.notifications,
                     refuse: refuse, audited: finishedRecord, complete: complete)
            return cancellation
        }

        // A write's rate is counted once, when consent decides to ask (or finds it pre-approved),
        // so a write over its rate is refused before anyone is asked to approve it, and the
        // 2026-07-28 retry that redeems that question is not counted again.
        let perMinute = entry.limits.callsPerMinute
        let rateKey = entry.rateKey
        let countRate: @Sendable () -> ToolResult? = {
            guard let perMinute,
                  case .busy(let reason, let retry) = plugin.limiter.admit(
                      principal: principal.name, rateKey: rateKey, perMinute: perMinute,
                      concurrencyKey: "", concurrent: nil, now: MonotonicClock.now())
            else { return nil }
            return ToolErrors.result(.unavailable, "\(name) is busy: \(reason); retry in \(retry) ms",
                                     extra: ["retryAfterMs": .int(Int64(retry))])
        }

        // Consent, for writes: possibly after a round trip to the client's human.
        consent.decide(servedName: name, tool: entry.tool, principal: principal, arguments: checked.arguments,
                       preapproved: plugin.policy.access.preapproves(principal, tool: entry.tool.name),
                       context: context, countRate: countRate,
                       whenCancelled: { cancellation.onCancel($0) }) { [self, provenance] verdict in
            switch verdict {
            case .refuse(let result): refuse(result)
            case .ask(let requests, let state):
                if let audit, let record {
                    audit.record(record.fields(outcome: "input_required", plugin: plugin, access: access, arguments: checked.arguments)) {
                        complete(.inputRequired(inputRequests: requests, requestState: state))
                    }
                } else {
                    complete(.inputRequired(inputRequests: requests, requestState: state))
                }
            case .proceed(let how):
                var provenance = provenance
                if entry.tool.access == .write { provenance["consent"] = .string(how) }
                let consentText: String? = entry.tool.access == .write ? how : nil
                let finishedRecord = Self.auditor(audit, record, plugin: plugin, access: access, consent: consentText,
                                                  checked: checked)
                dispatch(entry, kind: kind, name: name, principal: principal, arguments: checked.arguments, clamped: checked.clamped,
                         provenance: provenance, cancellation: cancellation, notifications: context.notifications,
                         refuse: refuse, audited: finishedRecord, complete: complete)
            }
        }
        return cancellation
    }

    /// What records a finished call in the audit trail, when there is one, and
    /// then (once the record is durable) sends its answer.
    private static func auditor(_ audit: AuditLog?, _ record: CallRecord?, plugin: PluginInstance, access: String,
                                consent: String?, checked: ArgumentCheck.Passed) -> (@Sendable (ToolResult, @escaping @Sendable () -> Void) -> Void)? {
        guard let audit, let record else { return nil }
        return { result, then in
            audit.record(record.fields(outcome: result.isError ? "error" : "ok", plugin: plugin, access: access,
                                       consent: consent, result: result, arguments: checked.arguments,
                                       clamped: checked.clamped), then: then)
        }
    }

    /// After the gate said yes: rate and concurrency, the deadline, the plugin's thread.
    private func dispatch(_ entry: ServedEntry, kind: CallKind, name: String, principal: Principal, arguments: JSONObject, clamped: [JSONValue],
                          provenance: JSONObject, cancellation: CallCancellation,
                          notifications: (any CallNotifier)?,
                          refuse: @escaping @Sendable (ToolResult) -> Void,
                          audited: (@Sendable (ToolResult, @escaping @Sendable () -> Void) -> Void)?,
                          complete: @escaping @Sendable (ToolCallOutcome) -> Void) {
        let plugin = entry.plugin
        let limits = entry.limits
        let now = MonotonicClock.now()
        // A write's rate was counted when consent was asked for or found pre-approved (see callTool).
        let perMinute = entry.tool.access == .write ? nil : limits.callsPerMinute
        if perMinute != nil || limits.concurrentCalls != nil {
            if case .busy(let reason, let retry) = plugin.limiter.admit(
                principal: principal.name, rateKey: entry.rateKey, perMinute: perMinute,
                concurrencyKey: entry.concurrencyKey, concurrent: limits.concurrentCalls, now: now)
            {
                refuse(ToolErrors.result(.unavailable, "\(name) is busy: \(reason); retry in \(retry) ms",
                                         extra: ["retryAfterMs": .int(Int64(retry))]))
                return
            }
        }

        let deadline = now + UInt64(limits.deadlineMilliseconds) * 1_000_000
        let call = CallState(plugin: plugin, tool: entry.policyName, arguments: arguments, principal: principal,
                             deadline: deadline, resultLimit: limits.resultBytes,
                             outputValidator: entry.tool.outputValidator, notifications: notifications, kind: kind,
                             resources: self)
        // A cancel that arrived while consent was being asked for applies at once.
        guard cancellation.attach(call) else { return }
        let clampNote = Self.clampNote(clamped)
        let finished: @Sendable (ToolResult) -> Void = { [provenance] result in
            var result = result
            if result.isError { plugin.errors.wrappingAdd(1, ordering: .relaxed) }
            if let clampNote, !result.isError, case .tool = kind { result.content.append(clampNote) }
            // What the plugin said it drew on (sources, exclusions) joins what the gate knows.
            var record = provenance
            if case .object(let parts)? = result.meta?["bulkhead/provenance"] {
                for (k, v) in parts { record[k] = v }
            }
            result.meta = ["bulkhead/provenance": .object(record)]
            if let audited {
                audited(result) { [result] in complete(.result(result)) }
            } else {
                complete(.result(result))
            }
        }
        plugin.calls.wrappingAdd(1, ordering: .relaxed)
        plugin.inFlight.wrappingAdd(1, ordering: .relaxed)
        let logger = self.logger

        // At the deadline the caller is answered whatever the plugin is doing; a
        // plugin still inside the call has overrun and is marked degraded until it returns.
        let timer = DeadlineWatcher.shared.schedule(at: deadline, owner: ObjectIdentifier(self)) { firing in
            guard call.claimAnswer() else { return }
            // Sequentially consistent with the executor's store of `running` and load
            // of the flag: either it sees the flag and never starts, or we see it running.
            call.cancelledFlag.store(true, ordering: .sequentiallyConsistent)
            if firing == .shutdown {
                if call.running.load(ordering: .sequentiallyConsistent) {
                    logger.warning("plugin '\(plugin.name)' tool '\(entry.tool.name)' was still running at the drain deadline: answered unavailable")
                }
                finished(ToolErrors.result(.unavailable, "the server shut down before \(name) finished; it may or may not have taken effect"))
                return
            }
            if call.running.load(ordering: .sequentiallyConsistent) {
                call.overran.store(true, ordering: .sequentiallyConsistent)
                plugin.overrunning.wrappingAdd(1, ordering: .relaxed)
                plugin.health.store(PluginHealth.degraded.rawValue, ordering: .relaxed)
                logger.warning("plugin '\(plugin.name)' tool '\(entry.tool.name)' overran its \(limits.deadlineMilliseconds) ms deadline: answered timeout, plugin marked degraded until it returns")
            }
            finished(ToolErrors.result(.timeout, "\(name) did not answer within its \(limits.deadlineMilliseconds) ms deadline"))
        }

        let function = entry.function
        let concurrencyKey = entry.concurrencyKey
        let limited = limits.concurrentCalls != nil
        plugin.executor.submit {
            defer {
                plugin.inFlight.wrappingAdd(-1, ordering: .relaxed)
                if limited { plugin.limiter.release(concurrencyKey: concurrencyKey) }
                // Answered at its deadline while inside the plugin; the plugin is back now.
                if call.overran.load(ordering: .sequentiallyConsistent),
                   plugin.overrunning.wrappingSubtract(1, ordering: .relaxed).newValue == 0 {
                    plugin.health.store(PluginHealth.ok.rawValue, ordering: .relaxed)
                    logger.notice("plugin '\(plugin.name)' returned from its overrun call: no longer degraded")
                }
            }
            call.running.store(true, ordering: .sequentiallyConsistent)
            if call.cancelledFlag.load(ordering: .sequentiallyConsistent) || call.isCancelled {
                // Cancelled, or its deadline passed, while it waited for a thread: never started.
                if call.claimAnswer() {
                    DeadlineWatcher.shared.cancel(timer)
                    finished(call.pastDeadline
                        ? ToolErrors.result(.timeout, "\(name) did not start within its \(limits.deadlineMilliseconds) ms deadline")
                        : ToolErrors.result(.cancelled, "cancelled before it started"))
                }
                return
            }
            guard plugin.enterCall() else {
                // The plugin was shut down (its destroy may be running) while this waited for a thread.
                if call.claimAnswer() {
                    DeadlineWatcher.shared.cancel(timer)
                    finished(ToolErrors.result(.unavailable, "the server shut down before \(name) started"))
                }
                return
            }
            let token = HandleTable.shared.register(call: call)
            let outcome = plugin.runtime.run(tool: entry.functionKey, registered: function, call: call, token: token)
            plugin.leaveCall()
            HandleTable.shared.unregister(call: token)
            if call.claimAnswer() {
                DeadlineWatcher.shared.cancel(timer)
                var result: ToolResult
                switch outcome {
                case .returned(let status): result = call.finish(status: status)
                case .failed(let failure):
                    call.answer.withLock { $0.lent.releaseAll() }
                    result = failure
                }
                // A plugin that stopped because its deadline passed (it polls is_cancelled)
                // can return before the watcher fires: the caller still gets timeout.
                if result.isError, call.pastDeadline, result.structuredContent?.objectValue?["kind"] == .string("cancelled") {
                    result = ToolErrors.result(.timeout, "\(name) did not answer within its \(limits.deadlineMilliseconds) ms deadline")
                }
                finished(result)
            } else {
                call.answer.withLock { $0.lent.releaseAll() }
            }
        }
    }

    /// A text block saying which arguments the policy clamped, for readers of the content.
    private static func clampNote(_ clamped: [JSONValue]) -> JSONValue? {
        guard !clamped.isEmpty else { return nil }
        let parts = clamped.compactMap { c -> String? in
            guard case .object(let o) = c, let f = o["field"]?.stringValue, let r = o["requested"], let a = o["applied"] else { return nil }
            return "\(f) \(String(decoding: r.serialized(), as: UTF8.self)) → \(String(decoding: a.serialized(), as: UTF8.self))"
        }
        return ["type": "text", "text": .string("(clamped by policy: \(parts.joined(separator: ", ")))")]
    }
}

/// Cancels one call: sets the flag the plugin polls with is_cancelled. The
/// call may not exist yet (consent is being asked for); a cancel then stops
/// it from ever being dispatched.
private final class CallCancellation: ToolCallCancellation, Sendable {
    private struct State: ~Copyable {
        var call: CallState?
        var cancelled = false
        var actions: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    /// Runs `action` when the call is cancelled (at once if it already was).
    func onCancel(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s in
            if s.cancelled { return true }
            s.actions.append(action)
            return false
        }
        if now { action() }
    }

    /// Attaches the dispatched call; false when a cancel came first.
    func attach(_ call: CallState) -> Bool {
        state.withLock { s in
            guard !s.cancelled else { return false }
            s.call = call
            return true
        }
    }

    func cancel(reason: String?) {
        let (call, actions) = state.withLock { s in
            s.cancelled = true
            defer { s.actions = [] }
            return (s.call, s.actions)
        }
        call?.cancelledFlag.store(true, ordering: .relaxed)
        for action in actions { action() }
    }
}
