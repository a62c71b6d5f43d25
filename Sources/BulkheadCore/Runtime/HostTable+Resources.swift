import BulkheadProtocol
import CBulkhead
import Crypto
import Foundation

/// The ABI 1.1 result functions for resources, prompts and provenance.
extension HostTable {
    static func installResources(_ api: inout bh_host_api) {
        api.result_resource = { call, content in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard let content, Int(content.pointee.struct_size) >= MemoryLayout<bh_resource_content>.size else {
                LastError.set("result_resource: struct_size must be at least sizeof(bh_resource_content) (\(MemoryLayout<bh_resource_content>.size))")
                return BH_E_INVALID
            }
            return state.answer.withLock { a in
                guard a.error == nil else { return BH_E_NOT_ALLOWED }
                return ResourceContent.append(content.pointee, to: &a, call: state)
            }
        }

        api.result_message = { call, role, text, textLen in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            return state.answer.withLock { a in
                guard a.error == nil else { return BH_E_NOT_ALLOWED }
                guard case .prompt = state.kind else {
                    return state.refuse(&a, BH_E_NOT_ALLOWED, "result_message: only a prompt answers with messages; this is a \(state.kind.noun)")
                }
                guard role == BH_ROLE_USER || role == BH_ROLE_ASSISTANT else {
                    return state.refuse(&a, BH_E_INVALID, "result_message: role \(role.rawValue) is neither BH_ROLE_USER nor BH_ROLE_ASSISTANT")
                }
                if let refused = state.refuseOversized(&a, textLen, "result_message") { return refused }
                guard let s = validatedUTF8(text, textLen) else {
                    return state.refuse(&a, BH_E_INVALID, "result_message: the text is not UTF-8")
                }
                a.bytes += textLen
                a.content.append(ResourceContent.message(role: role, ["type": "text", "text": .string(state.plugin.capabilities.scrub(s))]))
                return BH_OK
            }
        }

        api.result_media = { call, mime, mimeLen, data, dataLen in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            return state.answer.withLock { a in
                guard a.error == nil else { return BH_E_NOT_ALLOWED }
                guard let type = validatedUTF8(mime, mimeLen), type.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
                      let kind = type.hasPrefix("image/") ? "image" : type.hasPrefix("audio/") ? "audio" : nil,
                      type.utf8.count > kind.utf8.count + 1 else {
                    return state.refuse(&a, BH_E_INVALID, "result_media: the mime type must be image/... or audio/...")
                }
                switch state.kind {
                case .tool, .prompt: break
                default:
                    return state.refuse(&a, BH_E_NOT_ALLOWED, "result_media: a \(state.kind.noun) answers with result_resource, not media blocks")
                }
                if let refused = state.refuseOversized(&a, dataLen, "result_media") { return refused }
                guard dataLen == 0 || data != nil else { return BH_E_INVALID }
                let bytes = dataLen == 0 ? Data() : Data(bytes: data!, count: dataLen)
                a.bytes += dataLen
                let block: JSONValue = ["type": .string(kind), "data": .string(bytes.base64EncodedString()), "mimeType": .string(type)]
                if case .prompt = state.kind {
                    a.content.append(ResourceContent.message(role: BH_ROLE_USER, block))
                } else {
                    a.content.append(block)
                }
                return BH_OK
            }
        }

        api.add_source = { call, source in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard let source, Int(source.pointee.struct_size) >= MemoryLayout<bh_source>.size else { return BH_E_INVALID }
            let s = source.pointee
            guard let uri = optionalText(s.uri), !uri.isEmpty, let title = optionalText(s.title), let version = optionalText(s.version) else {
                LastError.set("add_source: uri must be non-empty UTF-8, and title and version UTF-8")
                return BH_E_INVALID
            }
            let scrub = state.plugin.capabilities.scrub
            let entry = ResourceContent.source(uri: scrub(uri), title: title.isEmpty ? nil : scrub(title),
                                               version: version.isEmpty ? nil : scrub(version), modifiedMs: s.modified_ms)
            state.answer.withLock { a in
                if a.sources.count < ResourceContent.sourceLimit { a.sources.append(entry) }
            }
            return BH_OK
        }

        api.report_excluded = { call, kind, count, why, whyLen in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            guard kind == BH_EXCLUDED_TRUNCATED || kind == BH_EXCLUDED_FILTERED, let note = validatedUTF8(why, whyLen) else {
                return BH_E_INVALID
            }
            let text = LogText.cut(state.plugin.capabilities.scrub(note), bytes: 500)
            state.answer.withLock { a in
                let before = a.excluded[Int32(bitPattern: kind.rawValue)] ?? (0, "")
                let (sum, over) = before.count.addingReportingOverflow(count)
                a.excluded[Int32(bitPattern: kind.rawValue)] = (over ? .max : sum, text.isEmpty ? before.why : text)
            }
            return BH_OK
        }
    }

}

/// An optional text field: "" when empty, nil when not UTF-8.
private func optionalText(_ b: bh_bytes) -> String? {
    b.len == 0 ? "" : validatedUTF8(b.ptr, b.len)
}

// Plain old data read under the call's lock; its pointers are the plugin's, valid during the call.
extension bh_resource_content: @unchecked @retroactive Sendable {}

/// How resources, messages and sources look on the wire.
enum ResourceContent {
    static let sourceLimit = 100

    /// Checks one bh_resource_content and appends it as the call's kind needs.
    static func append(_ c: bh_resource_content, to a: inout CallState.Answer, call: CallState) -> bh_status {
        let known = BH_RESOURCE_BINARY | BH_RESOURCE_LINK
        guard c.flags & ~known == 0 else {
            return call.refuse(&a, BH_E_INVALID, "result_resource: unknown flags 0x\(String(c.flags & ~known, radix: 16))")
        }
        let link = c.flags & BH_RESOURCE_LINK != 0
        let binary = c.flags & BH_RESOURCE_BINARY != 0
        func utf8(_ b: bh_bytes, _ field: String) -> String?? {
            if b.len == 0 { return .some(nil) }
            guard let s = validatedUTF8(b.ptr, b.len) else { return nil }
            return .some(s)
        }
        guard let givenURI = utf8(c.uri, "uri"), let mime = utf8(c.mime_type, "mime_type"),
              let version = utf8(c.version, "version"), let title = utf8(c.title, "title") else {
            return call.refuse(&a, BH_E_INVALID, "result_resource: uri, mime_type, version and title must be UTF-8")
        }
        var mimeType = mime
        let uri: String
        switch (givenURI, call.kind) {
        case (nil, .read(let read, let declared)):
            uri = read
            if mimeType == nil { mimeType = declared }
        case (nil, _):
            return call.refuse(&a, BH_E_INVALID, "result_resource: uri may be empty only in a resource read (it then means the URI read)")
        case (let u?, .read(let read, let declared)) where u == read:
            uri = u
            if mimeType == nil { mimeType = declared }
        case (let u?, _):
            // Only the plugin's own URIs, and only those this caller may read: anything
            // else is refused the same way, so the plugin cannot smuggle in another's.
            guard let verdict = call.resources?.readable(u, in: call.plugin, by: call.principal), verdict.allowed else {
                return call.refuse(&a, BH_E_NOT_ALLOWED, "result_resource: '\(LogText.cut(u, bytes: 200))' is not a resource of this plugin that this caller may read")
            }
            uri = u
            if mimeType == nil { mimeType = verdict.mimeType }
        }
        switch call.kind {
        case .read where link:
            return call.refuse(&a, BH_E_NOT_ALLOWED, "result_resource: a read answers with contents, not links (BH_RESOURCE_LINK)")
        case .list where !link:
            return call.refuse(&a, BH_E_NOT_ALLOWED, "result_resource: a resource list answers with links (BH_RESOURCE_LINK) only")
        case .completion:
            return call.refuse(&a, BH_E_NOT_ALLOWED, "result_resource: a completion answers with result_text, one value each")
        default: break
        }
        let scrub = call.plugin.capabilities.scrub
        let length = link ? 0 : c.data.len
        if let refused = call.refuseOversized(&a, length, "result_resource") { return refused }
        var body: JSONObject = ["uri": .string(uri)]
        if let mimeType { body["mimeType"] = .string(mimeType) }
        var derived: String?
        if !link {
            let bytes = c.data.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: c.data.ptr, count: c.data.len))
            if binary {
                body["blob"] = .string(Data(bytes).base64EncodedString())
            } else {
                guard let s = c.data.len == 0 ? "" : validatedUTF8(c.data.ptr, c.data.len) else {
                    return call.refuse(&a, BH_E_INVALID, "result_resource: text data is not UTF-8 (set BH_RESOURCE_BINARY for bytes)")
                }
                body["text"] = .string(scrub(s))
            }
            // Only a plugin that names no version of its own pays for the digest.
            if version == nil { derived = digestVersion(of: bytes) }
        }
        let v = version.map(scrub) ?? derived
        if let v { body["_meta"] = ["bulkhead/version": .string(v)] }
        let modified = c.modified_ms > 0 ? Timestamp.iso(milliseconds: c.modified_ms) : nil
        if let modified, link || call.kind.isRead { body["annotations"] = ["lastModified": .string(modified)] }
        a.bytes += length

        let shown = title.map(scrub)
        switch call.kind {
        case .read:
            a.content.append(.object(body))
        case .completion:
            return BH_E_NOT_ALLOWED
        case .list:
            var entry = body
            entry["name"] = .string(shown ?? uri)
            if let shown { entry["title"] = .string(shown) }
            a.content.append(.object(entry))
            return BH_OK
        case .tool, .prompt:
            var block: JSONObject
            if link {
                block = body
                block["type"] = "resource_link"
                block["name"] = .string(shown ?? uri)
                if let shown { block["title"] = .string(shown) }
            } else {
                block = ["type": "resource", "resource": .object(body)]
                if let modified { block["annotations"] = ["lastModified": .string(modified)] }
            }
            if case .prompt = call.kind {
                a.content.append(message(role: BH_ROLE_USER, .object(block)))
            } else {
                a.content.append(.object(block))
            }
        }
        if a.sources.count < sourceLimit {
            a.sources.append(source(uri: uri, title: shown, version: v, modifiedMs: c.modified_ms))
        }
        return BH_OK
    }

    /// The version of content whose plugin named none: "sha256:" and 16 hex digits of its digest.
    static func digestVersion(of bytes: [UInt8]) -> String {
        "sha256:" + String(Hex.encode(SHA256.hash(data: bytes)).prefix(16))
    }

    /// A resource read answered with result_json: its text, as JSON.
    static func json(_ value: JSONValue, call: CallState) -> JSONValue {
        guard case .read(let uri, let declared) = call.kind else { return value }
        let bytes = value.serialized()
        return [
            "uri": .string(uri), "mimeType": .string(declared ?? "application/json"),
            "text": .string(String(decoding: bytes, as: UTF8.self)),
            "_meta": ["bulkhead/version": .string(digestVersion(of: bytes))],
        ]
    }

    /// A resource read answered with result_text: one text content of the URI read.
    static func text(_ s: String, call: CallState) -> JSONValue {
        guard case .read(let uri, let declared) = call.kind else { return ["type": "text", "text": .string(s)] }
        var body: JSONObject = ["uri": .string(uri), "text": .string(s)]
        if let declared { body["mimeType"] = .string(declared) }
        body["_meta"] = ["bulkhead/version": .string(digestVersion(of: Array(s.utf8)))]
        return .object(body)
    }

    static func message(role: bh_role, _ content: JSONValue) -> JSONValue {
        ["role": .string(role == BH_ROLE_ASSISTANT ? "assistant" : "user"), "content": content]
    }

    static func source(uri: String, title: String?, version: String?, modifiedMs: Int64) -> JSONValue {
        var o: JSONObject = ["uri": .string(uri), "readAt": .string(Timestamp.now())]
        if let title { o["title"] = .string(title) }
        if let version { o["version"] = .string(version) }
        if modifiedMs > 0 { o["modified"] = .string(Timestamp.iso(milliseconds: modifiedMs)) }
        return .object(o)
    }

}

extension CallKind {
    var isRead: Bool { if case .read = self { true } else { false } }
}
