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
    /// `whenCancelled` registers what to do if the call is cancelled while its human is being asked.
    func decide(servedName full: String, tool: PluginManifest.Tool, principal: Principal, arguments: JSONObject,
                preapproved: Bool, context: RequestContext,
                whenCancelled: @Sendable (@escaping @Sendable () -> Void) -> Void,
                done: @escaping @Sendable (Verdict) -> Void) {
        guard tool.access == .write else { return done(.proceed(how: "read")) }
        if preapproved { return done(.proceed(how: "preapproved")) }
        let canElicit = context.clientCapabilities["elicitation"]?.objectValue != nil

        if context.era.isStateless {
            let digest = ArgumentDigest.of(arguments)
            if let state = context.requestState {
                switch seal.redeem(state, principal: principal.name, tool: full, digest: digest, now: Self.nowMilliseconds()) {
                case .failure(let refused):
                    return done(.refuse(ToolErrors.result(.notAllowed, "consent for \(full) not accepted: \(refused.reason)")))
                case .success:
                    let answer = context.inputResponses?[Self.requestKey]
                    return done(Self.verdict(answer: answer, tool: full, how: "elicitation (input_required)"))
                }
            }
            guard canElicit else { return done(.refuse(Self.consentRequired(full))) }
            let request: JSONObject = [Self.requestKey: ["method": "elicitation/create", "params": .object(Self.form(full, principal, arguments))]]
            return done(.ask(inputRequests: request,
                             requestState: seal.seal(principal: principal.name, tool: full, digest: digest, now: Self.nowMilliseconds())))
        }

        guard canElicit, let client = context.clientRequests else { return done(.refuse(Self.consentRequired(full))) }
        let id = client.request(method: "elicitation/create", params: Self.form(full, principal, arguments)) { result in
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
        // A call cancelled while its human is asked withdraws the question too.
        if let id { whenCancelled { client.cancelRequest(id, reason: "the call it asked about was cancelled") } }
    }

    /// An ElicitResult: accept with confirm = true runs the call; anything else does not.
    private static func verdict(answer: JSONValue?, tool: String, how: String) -> Verdict {
        guard case .object(let a)? = answer, let action = a["action"]?.stringValue else {
            return .refuse(ToolErrors.result(.notAllowed, "no answer to the consent request for \(tool); nothing was changed"))
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
        var lines = ["\(tool) wants to make a change on behalf of \(principal.name) (tenant \(principal.tenant)).", ""]
        if arguments.isEmpty { lines.append("(no arguments)") }
        for (key, value) in arguments {
            var text = value.stringValue ?? String(decoding: value.serialized(), as: UTF8.self)
            if text.count > 300 { text = String(text.prefix(300)) + "…" }
            lines.append("\(key): \(text)")
        }
        lines += ["", "Allow this exact change?"]
        return [
            "mode": "form",
            "message": .string(lines.joined(separator: "\n")),
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

    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
