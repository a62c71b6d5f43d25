#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol

/// Consent before every write (DESIGN decision 8): a tool the manifest
/// declares as a write runs only after the caller's human agreed to this
/// exact call, or when the plugin's policy pre-approves it for this
/// principal. "The model decided" is not consent.
struct ConsentGate: Sendable {
    let seal: ConsentSeal

    enum Verdict: Sendable {
        /// Run it; `how` goes into the provenance (and later the audit).
        case proceed(how: String)
        case refuse(ToolResult)
        /// 2026-07-28: answer input_required and wait for the retry.
        case ask(inputRequests: JSONObject, requestState: String)
    }

    /// The input request's key in `inputRequests` / `inputResponses`.
    static let requestKey = "bulkhead/consent"

    /// Decides, possibly after asking the client (handshake era); `done` runs exactly once.
    /// `countRate` takes one call from the write's `calls_per_minute` and returns the
    /// refusal when there is none left; it is called once per write: before anyone is
    /// asked, or when the write is pre-approved — never for the retry that redeems a question.
    /// `whenCancelled` registers what to do if the call is cancelled while its human is being asked.
    func decide(servedName full: String, tool: PluginManifest.Tool, principal: Principal, arguments: JSONObject,
                preapproved: Bool, context: RequestContext, countRate: () -> ToolResult?,
                whenCancelled: @Sendable (@escaping @Sendable () -> Void) -> Void,
                done: @escaping @Sendable (Verdict) -> Void) {
        guard tool.access == .write else { return done(.proceed(how: "read")) }
        if preapproved {
            if let busy = countRate() { return done(.refuse(busy)) }
            CoreMetrics.consent("preapproved")
            return done(.proceed(how: "preapproved"))
        }

        if context.era.isStateless, let state = context.requestState {
            // The question this retry answers was counted when it was asked.
            let digest = ArgumentDigest.of(arguments)
            switch seal.redeem(state, principal: principal.name, tool: full, digest: digest, now: Self.nowMilliseconds()) {
            case .failure(let refused):
                return done(.refuse(ToolErrors.result(.notAllowed, "consent for \(full) not accepted: \(refused.reason)")))
            case .success:
                let answer = context.inputResponses?[Self.requestKey]
                return done(Self.verdict(answer: answer, tool: full, how: "elicitation (input_required)"))
            }
        }

        if let busy = countRate() { return done(.refuse(busy)) }
        switch Self.formMode(context.clientCapabilities) {
        case .undeclared: return done(.refuse(Self.consentRequired(full)))
        case .withoutForm: return done(.refuse(Self.formModeRequired(full)))
        case .declared: break
        }
        let form = Self.form(full, principal, arguments)
        CoreMetrics.consent("asked")
        if context.era.isStateless {
            let request: JSONObject = [Self.requestKey: ["method": "elicitation/create", "params": .object(form)]]
            return done(.ask(inputRequests: request,
                             requestState: seal.seal(principal: principal.name, tool: full,
                                                     digest: ArgumentDigest.of(arguments), now: Self.nowMilliseconds())))
        }
        guard let client = context.clientRequests else { return done(.refuse(Self.consentRequired(full))) }
        ask(client, tool: full, form: form, whenCancelled: whenCancelled, done: done)
    }

    /// Handshake era: asks the client mid-call, and withdraws the question at the TTL,
    /// as the 2026-07-28 state expires, so that an answer long after the question writes nothing.
    private func ask(_ client: any ClientRequester, tool full: String, form: JSONObject,
                     whenCancelled: @Sendable (@escaping @Sendable () -> Void) -> Void,
                     done: @escaping @Sendable (Verdict) -> Void) {
        let pending = PendingConsent()
        let seconds = seal.ttlMilliseconds / 1000
        let id = client.request(method: "elicitation/create", params: form) { result in
            if pending.answered() {
                return done(.refuse(ToolErrors.result(.timeout, "the consent request for \(full) expired after \(seconds) s without an answer; nothing was changed")))
            }
            switch result {
            case .success(let answer): done(Self.verdict(answer: answer, tool: full, how: "elicitation"))
            case .failure(.shuttingDown):
                done(.refuse(ToolErrors.result(.unavailable, "the server is shutting down: the consent request for \(full) was withdrawn before its user answered; nothing was changed")))
            case .failure(.connectionClosed), .failure(.cancelled):
                done(.refuse(ToolErrors.result(.cancelled, "the client went away before its user answered the consent request for \(full)")))
            case .failure(.remote(let e)):
                done(.refuse(ToolErrors.result(.notAllowed, "the client could not ask its user for consent to \(full) (\(e.message)); nothing was changed")))
            }
        }
        guard let id else { return }
        // A call cancelled while its human is asked withdraws the question too.
        whenCancelled { client.cancelRequest(id, reason: "the call it asked about was cancelled") }
        let expiry = MonotonicClock.now() + UInt64(seal.ttlMilliseconds) * 1_000_000
        pending.arm(DeadlineWatcher.shared.schedule(at: expiry, owner: ObjectIdentifier(pending)) { _ in
            // The completion above then answers the call: the question is withdrawn, the call ends in `timeout`.
            if pending.expire() { client.cancelRequest(id, reason: "the consent request expired after \(seconds) s") }
        })
    }

    enum FormMode: Equatable {
        case undeclared
        /// Elicitation declared, but only in other modes (URL).
        case withoutForm
        case declared
    }

    /// Consent asks in form mode only. Per 2025-11-25, `elicitation: {}` means form mode
    /// (what clients declared before modes existed); otherwise `form` must be named.
    static func formMode(_ capabilities: JSONObject) -> FormMode {
        guard let elicitation = capabilities["elicitation"]?.objectValue else { return .undeclared }
        if elicitation.isEmpty || elicitation["form"]?.objectValue != nil { return .declared }
        return .withoutForm
    }

    /// An ElicitResult: accept with confirm = true runs the call; anything else does not.
    private static func verdict(answer: JSONValue?, tool: String, how: String) -> Verdict {
        guard case .object(let a)? = answer, let action = a["action"]?.stringValue else {
            return .refuse(ToolErrors.result(.notAllowed, "no answer to the consent request for \(tool); nothing was changed"))
        }
        if action == "accept", a["content"]?.objectValue?["confirm"] == .bool(true) {
            CoreMetrics.consent("granted")
        } else {
            CoreMetrics.consent("declined")
        }
        switch action {
        case "accept":
            if a["content"]?.objectValue?["confirm"] == .bool(true) { return .proceed(how: how) }
            return .refuse(ToolErrors.result(.notAllowed, "the user did not confirm \(tool); nothing was changed"))
        case "decline":
            return .refuse(ToolErrors.result(.notAllowed, "the user declined \(tool); nothing was changed"))
        case "cancel":
            return .refuse(ToolErrors.result(.cancelled, "the user dismissed the consent request for \(tool); nothing was changed"))
        default:
            return .refuse(ToolErrors.result(.notAllowed, "unknown answer '\(action)' to the consent request for \(tool); nothing was changed"))
        }
    }

    /// elicitation/create params (form mode): a message a human can judge and a yes/no.
    private static func form(_ tool: String, _ principal: Principal, _ arguments: JSONObject) -> JSONObject {
        [
            "mode": "form",
            "message": .string(ConsentRendering.message(tool: tool, principal: principal, arguments: arguments)),
            "requestedSchema": [
                "type": "object",
                "properties": ["confirm": ["type": "boolean", "title": "Allow", "description": .string("Run \(tool) with these arguments")]],
                "required": ["confirm"],
            ],
        ]
    }

    private static func consentRequired(_ tool: String) -> ToolResult {
        ToolErrors.result(.consentRequired,
                          "\(tool) changes state and needs its user's consent, but this client declared no elicitation capability, so nobody can be asked; nothing was changed. Use a client that supports elicitation, or the operator can pre-approve this tool for this principal in the plugin's policy.toml ([[preapprove]]).")
    }

    private static func formModeRequired(_ tool: String) -> ToolResult {
        ToolErrors.result(.consentRequired,
                          "\(tool) changes state and needs its user's consent, which is asked with form-mode elicitation, but this client declared elicitation without form mode (only other modes, such as url), so it cannot be asked; nothing was changed. Use a client that declares form-mode elicitation (capabilities.elicitation.form), or the operator can pre-approve this tool for this principal in the plugin's policy.toml ([[preapprove]]).")
    }

    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
