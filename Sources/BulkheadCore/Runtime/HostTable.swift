import BulkheadProtocol
import CBulkhead
import Logging

/// The bh_host_api every plugin is handed. The functions are plain C
/// functions with no captured context: each finds its plugin or call through
/// the token it is passed, so a token is only as good as the HandleTable says.
enum HostTable {
    static func make() -> bh_host_api {
        var api = bh_host_api()
        api.struct_size = UInt32(MemoryLayout<bh_host_api>.size)
        api.abi_major = UInt16(BH_ABI_VERSION_MAJOR)
        api.abi_minor = UInt16(BH_ABI_VERSION_MINOR)

        api.register_tool = { plugin, name, nameLen, fn, userData in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let fn, let toolName = validatedUTF8(name, nameLen), Naming.isToolName(toolName) else {
                return BH_E_INVALID
            }
            return instance.register(tool: toolName, function: fn, userData: userData)
        }

        api.register_resource = { plugin, uri, uriLen, fn, userData in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let fn, let text = validatedUTF8(uri, uriLen), !text.isEmpty else { return BH_E_INVALID }
            return instance.register(tool: FunctionKey.resource(text), function: fn, userData: userData)
        }

        api.register_prompt = { plugin, name, nameLen, fn, userData in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let fn, let text = validatedUTF8(name, nameLen), Naming.isToolName(text) else { return BH_E_INVALID }
            return instance.register(tool: FunctionKey.prompt(text), function: fn, userData: userData)
        }

        api.register_resource_list = { plugin, fn, userData in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let fn else { return BH_E_INVALID }
            return instance.register(tool: FunctionKey.resourceList, function: fn, userData: userData)
        }

        api.register_completion = { plugin, ref, refLen, fn, userData in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let fn, let text = validatedUTF8(ref, refLen), !text.isEmpty else { return BH_E_INVALID }
            return instance.register(tool: FunctionKey.completion(text), function: fn, userData: userData)
        }

        api.resource_changed = { plugin, uri, uriLen in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let text = validatedUTF8(uri, uriLen) else { return BH_E_INVALID }
            guard PluginManifest.pluginScheme(ofURI: text) == PluginManifest.scheme(ofPlugin: instance.name) else {
                LastError.set("resource_changed: '\(LogText.cut(text, bytes: 200))' is not a URI of this plugin")
                return BH_E_NOT_ALLOWED
            }
            instance.resourceChanged(text)
            return BH_OK
        }

        api.log = { plugin, level, message, messageLen in
            guard let instance = HandleTable.shared.plugin(plugin.token) else {
                _ = staleHandle("plugin", plugin.token)
                return
            }
            let text = bh_bytes.view(message, messageLen).map { String(decoding: $0, as: UTF8.self) } ?? ""
            // Escaped here rather than only by the log handler: whatever handler is
            // installed, a plugin's line stays one line, marked as the plugin's.
            let scrubbed = instance.capabilities.scrub(text)
            let line = LogText.escaped(scrubbed, limit: LogText.pluginMessageLimit)
            let (logLevel, mcpLevel) = levels(level)
            instance.pluginLogger.log(level: logLevel, "\(line)")
            // A client that asked to hear this call's log lines gets them too, as
            // notifications/message attributed to the plugin (MCP logging).
            if let call = CurrentCall.onThisThread(), call.plugin === instance, let notifier = call.notifications {
                if notifier.wantsLog(mcpLevel) {
                    notifier.log(mcpLevel, logger: instance.name, message: LogText.cut(scrubbed, bytes: LogText.pluginMessageLimit))
                }
            }
        }

        api.config = { plugin, key, keyLen, out in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let out, let k = validatedUTF8(key, keyLen) else { return BH_E_INVALID }
            guard let value = instance.config[exactly: k] else { return BH_E_NOT_FOUND }
            out.pointee = value
            return BH_OK
        }

        api.arguments = { call, out in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard let out else { return BH_E_INVALID }
            out.pointee = state.answer.withLock { a in
                if let cached = a.argumentsJSON { return cached }
                let bytes = a.lent.lend(JSONValue.object(state.arguments).serialized())
                a.argumentsJSON = bytes
                return bytes
            }
            return BH_OK
        }

        api.arg_string = { call, key, keyLen, out in
            argument(call, key, keyLen, out) { value, state, out in
                guard case .string(let s) = value else { return BH_E_TYPE }
                out.pointee = state.answer.withLock { $0.lent.lend(s) }
                return BH_OK
            }
        }

        api.arg_int = { call, key, keyLen, out in
            argument(call, key, keyLen, out) { value, _, out in
                guard let i = value.intValue else { return BH_E_TYPE }
                out.pointee = i
                return BH_OK
            }
        }

        api.arg_double = { call, key, keyLen, out in
            argument(call, key, keyLen, out) { value, _, out in
                guard let d = value.doubleValue else { return BH_E_TYPE }
                out.pointee = d
                return BH_OK
            }
        }

        api.arg_bool = { call, key, keyLen, out in
            argument(call, key, keyLen, out) { value, _, out in
                guard let b = value.boolValue else { return BH_E_TYPE }
                out.pointee = b ? 1 : 0
                return BH_OK
            }
        }

        api.arg_json = { call, key, keyLen, out in
            argument(call, key, keyLen, out) { value, state, out in
                out.pointee = state.answer.withLock { $0.lent.lend(value.serialized()) }
                return BH_OK
            }
        }

        api.caller = { call, out in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard let out, Int(out.pointee.struct_size) >= MemoryLayout<bh_caller>.size else { return BH_E_INVALID }
            let p = state.principal
            let lent = state.answer.withLock { a in
                if let c = a.caller { return c }
                let c = (a.lent.lend(p.name), a.lent.lend(p.tenant), a.lent.lend(p.scopes.joined(separator: " ")))
                a.caller = c
                return c
            }
            out.pointee.principal = lent.0
            out.pointee.tenant = lent.1
            out.pointee.scopes = lent.2
            return BH_OK
        }

        api.remaining_ms = { call in
            guard let state = CurrentCall.find(call.token) else {
                _ = staleHandle("call", call.token)
                return 0
            }
            guard let deadline = state.deadline else { return -1 }
            let now = MonotonicClock.now()
            return now >= deadline ? 0 : Int64((deadline - now) / 1_000_000)
        }

        api.is_cancelled = { call in
            guard let state = CurrentCall.find(call.token) else { return 1 }
            return state.isCancelled ? 1 : 0
        }

        api.result_text = { call, text, textLen in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            return state.answer.withLock { a in
                guard a.error == nil else { return BH_E_NOT_ALLOWED }
                // The size first, before a byte is read: a result the policy will refuse is never copied.
                if let refused = state.refuseOversized(&a, textLen, "result_text") { return refused }
                guard let s = validatedUTF8(text, textLen) else {
                    return state.refuse(&a, BH_E_INVALID, "result_text: the text is not UTF-8")
                }
                let text = state.plugin.capabilities.scrub(s)
                switch state.kind {
                case .tool: a.content.append(["type": "text", "text": .string(text)])
                case .read: a.content.append(ResourceContent.text(text, call: state))
                case .prompt: a.content.append(ResourceContent.message(role: BH_ROLE_USER, ["type": "text", "text": .string(text)]))
                case .list:
                    return state.refuse(&a, BH_E_NOT_ALLOWED, "result_text: a resource list answers with result_resource(BH_RESOURCE_LINK)")
                case .completion: a.content.append(.string(text))
                }
                a.bytes += textLen
                return BH_OK
            }
        }

        api.result_json = { call, json, jsonLen in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            return state.answer.withLock { a in
                guard a.error == nil, a.structured == nil else { return BH_E_NOT_ALLOWED }
                switch state.kind {
                case .tool, .read: break
                case .prompt, .list, .completion:
                    return state.refuse(&a, BH_E_NOT_ALLOWED, "result_json: a \(state.kind.noun) has no structured content")
                }
                if let refused = state.refuseOversized(&a, jsonLen, "result_json") { return refused }
                guard let raw = bh_bytes.view(json, jsonLen) else {
                    return state.refuse(&a, BH_E_INVALID, "result_json: json is NULL")
                }
                let parsed: JSONValue
                do {
                    parsed = try JSONValue.parse(raw)
                } catch {
                    return state.refuse(&a, BH_E_INVALID, "result_json: not JSON: \(error)")
                }
                guard case .object = parsed else {
                    return state.refuse(&a, BH_E_INVALID, "result_json: structured content must be one JSON object, not \(parsed.typeName)")
                }
                // Redacted before it is checked: what must match the schema is what the client will get.
                let value = state.plugin.capabilities.redact(parsed)
                if let validator = state.outputValidator {
                    let violations = validator.validate(value, limit: 5)
                    if !violations.isEmpty {
                        return state.refuse(&a, BH_E_INVALID, "result_json: the structured content does not match the output_schema of '\(state.tool)': \(violations.map(\.message).joined(separator: "; "))")
                    }
                }
                a.bytes += jsonLen
                a.structured = value
                return BH_OK
            }
        }

        api.result_error = { call, kind, message, messageLen in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard let errorKind = ErrorKind(kind), let raw = validatedUTF8(message, messageLen) else { return BH_E_INVALID }
            let text = state.plugin.capabilities.scrub(raw)
            state.answer.withLock { a in
                a.error = (errorKind, text)
                a.content = []
                a.structured = nil
            }
            return BH_OK
        }

        api.progress = { call, progress, total, message, messageLen in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard progress.isFinite, total.isFinite else { return BH_E_INVALID }
            var text: String?
            if messageLen > 0 {
                guard let raw = validatedUTF8(message, messageLen) else { return BH_E_INVALID }
                text = LogText.cut(state.plugin.capabilities.scrub(raw), bytes: 1000)
            }
            guard let notifier = state.notifications, notifier.wantsProgress,
                  !state.cancelledFlag.load(ordering: .relaxed) else { return BH_OK }
            notifier.progress(progress, total: total > 0 ? total : nil, message: text)
            return BH_OK
        }

        api.core_status = { call, out in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard let out else { return BH_E_INVALID }
            guard state.plugin.capabilities.holdsCoreStatus else {
                return refuse(state.plugin, capability: "core_status", kind: .coreStatus, target: "core state",
                              "not granted: the manifest must request it and policy.toml grant it")
            }
            let json = state.plugin.board.snapshot().serialized()
            out.pointee = state.answer.withLock { $0.lent.lend(json) }
            return BH_OK
        }
        installCapabilities(&api)
        installResources(&api)
        return api
    }
}

/// Shared part of the arg_* functions: find the call, decode the key, look the argument up.
private func argument<T>(
    _ call: bh_call, _ key: UnsafePointer<CChar>?, _ keyLen: Int, _ out: UnsafeMutablePointer<T>?,
    _ body: (JSONValue, CallState, UnsafeMutablePointer<T>) -> bh_status
) -> bh_status {
    guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
    guard let out, let k = validatedUTF8(key, keyLen) else { return BH_E_INVALID }
    guard let value = state.arguments[k], !value.isNull else { return BH_E_NOT_FOUND }
    return body(value, state, out)
}

private let hostLogger = Logger(label: "bulkhead.host")

/// Logs and refuses a token the table does not know: stale, foreign or forged.
func staleHandle(_ what: String, _ token: UInt64) -> bh_status {
    hostLogger.warning("refused a \(what) handle that is not live (stale, foreign or forged): 0x\(String(token, radix: 16))")
    return BH_E_STALE
}

/// A plugin's log level as a log handler's and as MCP logging's: the header's
/// five levels exist in both, and anything else counts as an error.
private func levels(_ level: bh_log_level) -> (Logger.Level, MCPLogLevel) {
    switch level {
    case BH_LOG_DEBUG: (.debug, .debug)
    case BH_LOG_INFO: (.info, .info)
    case BH_LOG_NOTICE: (.notice, .notice)
    case BH_LOG_WARNING: (.warning, .warning)
    default: (.error, .error)
    }
}
