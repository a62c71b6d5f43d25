#if canImport(Glibc)
import Glibc
#endif
import CBulkhead

/// Carries out a worker's host requests with the very functions an
/// in-process plugin calls (the plugin's own bh_host_api table), so that
/// every status, limit, redaction and log line is the same in both tiers.
///
/// Before any of them runs, the request is bound to the worker's channel: a
/// plugin token other than the worker's own, or a call token that is not one
/// of the worker's calls in flight, is answered BH_E_STALE — exactly what a
/// forged handle gets in-process — and nothing is touched.
struct WorkerHostService {
    let instance: PluginInstance
    /// The worker's call in flight for a token, if it is one.
    let callInFlight: (UInt64) -> CallState?

    /// What to send back: the reply's fields after the status, and a descriptor to pass along.
    struct Reply {
        var status: bh_status
        var fields = FieldWriter()
        var descriptor: Int32 = -1
        var lastError: [UInt8] = []
    }

    private var api: bh_host_api { instance.table.pointee }

    /// Serves one request frame; throws when its payload does not parse.
    func serve(_ frame: WorkerFrame) throws(FieldReader.Malformed) -> Reply {
        var r = FieldReader(frame.payload)
        let op = bhw_op(rawValue: UInt32(frame.op))
        // The call the worker's thread is inside: host functions taking only the
        // plugin (files) find the tool's read or write nature through it.
        let current = frame.call == 0 ? nil : callInFlight(frame.call)
        var reply = Reply(status: BH_OK)
        LastError.clear()
        let run: () throws(FieldReader.Malformed) -> Void = {
            reply = try serve(op, &r, frame: frame, current: current)
        }
        if let current {
            var failure: FieldReader.Malformed?
            CurrentCall.with(token: frame.call, state: current) {
                do throws(FieldReader.Malformed) { try run() } catch { failure = error }
            }
            if let failure { throw failure }
        } else {
            try run()
        }
        let last = LastError.get()
        if last.len > 0, let p = last.ptr {
            reply.lastError = Array(UnsafeRawBufferPointer(start: p, count: last.len))
        }
        return reply
    }

    private func serve(_ op: bhw_op, _ r: inout FieldReader, frame: WorkerFrame,
                       current: CallState?) throws(FieldReader.Malformed) -> Reply {
        let call = bh_call(token: frame.call)
        var out = Reply(status: BH_OK)

        /// A per-call function: only for the worker's own calls in flight.
        func perCall(_ body: () -> bh_status) -> Reply {
            guard current != nil else { return Reply(status: staleHandle("call", frame.call)) }
            out.status = body()
            return out
        }
        /// A plugin-wide function: only with the worker's own plugin token.
        func plugin(_ token: UInt64, _ body: (bh_plugin) -> bh_status) -> Reply {
            guard token == instance.token else { return Reply(status: staleHandle("plugin", token)) }
            out.status = body(bh_plugin(token: token))
            return out
        }

        switch op {
        case BHW_REGISTER:
            let token = try r.u64(), name = try r.data()
            try r.end()
            return plugin(token) { p in
                // The key's first byte says what is registered (see BHW_REGISTER).
                let rest = Array(name.dropFirst())
                switch name.first {
                case 1: return withChars(rest) { api.register_resource(p, $0, $1, WorkerRuntime.remoteTool, nil) }
                case 2: return withChars(rest) { api.register_prompt(p, $0, $1, WorkerRuntime.remoteTool, nil) }
                case 3 where rest == Array("list".utf8): return api.register_resource_list(p, WorkerRuntime.remoteTool, nil)
                case 3: return BH_E_INVALID
                case 4: return withChars(rest) { api.register_completion(p, $0, $1, WorkerRuntime.remoteTool, nil) }
                default: return withChars(name) { api.register_tool(p, $0, $1, WorkerRuntime.remoteTool, nil) }
                }
            }
        case BHW_RESOURCE_CHANGED:
            let token = try r.u64(), uri = try r.data()
            try r.end()
            return plugin(token) { p in withChars(uri) { api.resource_changed(p, $0, $1) } }
        case BHW_CONFIG:
            let token = try r.u64(), key = try r.data()
            try r.end()
            return plugin(token) { p in
                var value = bh_bytes()
                let s = withChars(key) { api.config(p, $0, $1, &value) }
                if s == BH_OK { out.fields.data(value) }
                return s
            }
        case BHW_ARGUMENTS, BHW_CORE_STATUS:
            try r.end()
            return perCall {
                var value = bh_bytes()
                let s = op == BHW_ARGUMENTS ? api.arguments(call, &value) : api.core_status(call, &value)
                if s == BH_OK { out.fields.data(value) }
                return s
            }
        case BHW_ARG_STRING, BHW_ARG_JSON:
            let key = try r.data()
            try r.end()
            return perCall {
                var value = bh_bytes()
                let s = withChars(key) { op == BHW_ARG_STRING ? api.arg_string(call, $0, $1, &value) : api.arg_json(call, $0, $1, &value) }
                if s == BH_OK { out.fields.data(value) }
                return s
            }
        case BHW_ARG_INT:
            let key = try r.data()
            try r.end()
            return perCall {
                var value: Int64 = 0
                let s = withChars(key) { api.arg_int(call, $0, $1, &value) }
                if s == BH_OK { out.fields.i64(value) }
                return s
            }
        case BHW_ARG_DOUBLE:
            let key = try r.data()
            try r.end()
            return perCall {
                var value = 0.0
                let s = withChars(key) { api.arg_double(call, $0, $1, &value) }
                if s == BH_OK { out.fields.f64(value) }
                return s
            }
        case BHW_ARG_BOOL:
            let key = try r.data()
            try r.end()
            return perCall {
                var value: Int32 = 0
                let s = withChars(key) { api.arg_bool(call, $0, $1, &value) }
                if s == BH_OK { out.fields.u32(UInt32(bitPattern: value)) }
                return s
            }
        case BHW_CALLER:
            let size = try r.u32()
            try r.end()
            return perCall {
                var who = bh_caller()
                who.struct_size = min(size, UInt32(MemoryLayout<bh_caller>.size))
                let s = api.caller(call, &who)
                if s == BH_OK {
                    out.fields.data(who.principal)
                    out.fields.data(who.tenant)
                    out.fields.data(who.scopes)
                }
                return s
            }
        case BHW_RESULT_TEXT, BHW_RESULT_JSON:
            let text = try r.data()
            try r.end()
            return perCall {
                withChars(text) { op == BHW_RESULT_TEXT ? api.result_text(call, $0, $1) : api.result_json(call, $0, $1) }
            }
        case BHW_RESULT_OVERSIZE:
            // A result too large for the channel, refused by the worker before it was sent.
            let function = try r.u32(), length = try r.u64()
            try r.end()
            return perCall {
                guard let current else { return BH_E_STALE }
                let name = function == BHW_RESULT_JSON.rawValue ? "result_json" : "result_text"
                return current.answer.withLock { a in
                    // Past the policy's limit it is refused as in-process; else for the channel's.
                    if let refused = current.refuseOversized(&a, Int(clamping: length), name) { return refused }
                    a.overflowed = true
                    return current.refuse(&a, BH_E_TOO_LARGE, "\(name): \(length) bytes is more than a worker's channel carries (\(WorkerFrame.maxLength) bytes a frame)")
                }
            }
        case BHW_RESULT_ERROR:
            let kind = try r.u32(), message = try r.data()
            try r.end()
            return perCall { withChars(message) { api.result_error(call, bh_error_kind(rawValue: kind), $0, $1) } }
        case BHW_RESULT_RESOURCE:
            let flags = try r.u32(), uri = try r.data(), mime = try r.data(), data = try r.data(), version = try r.data()
            let modified = try r.i64(), title = try r.data()
            try r.end()
            return perCall {
                withChars(uri) { u, ul in withChars(mime) { m, ml in withChars(data) { d, dl in
                    withChars(version) { v, vl in withChars(title) { t, tl in
                        var c = bh_resource_content()
                        c.struct_size = UInt32(MemoryLayout<bh_resource_content>.size)
                        c.flags = flags
                        c.uri = bh_bytes(ptr: u, len: ul)
                        c.mime_type = bh_bytes(ptr: m, len: ml)
                        c.data = bh_bytes(ptr: d, len: dl)
                        c.version = bh_bytes(ptr: v, len: vl)
                        c.modified_ms = modified
                        c.title = bh_bytes(ptr: t, len: tl)
                        return api.result_resource(call, &c)
                    } }
                } } }
            }
        case BHW_RESULT_MEDIA:
            let mime = try r.data(), data = try r.data()
            try r.end()
            return perCall { withChars(mime) { m, ml in withChars(data) { d, dl in api.result_media(call, m, ml, d, dl) } } }
        case BHW_RESULT_MESSAGE:
            let role = try r.u32(), text = try r.data()
            try r.end()
            return perCall { withChars(text) { api.result_message(call, bh_role(rawValue: role), $0, $1) } }
        case BHW_ADD_SOURCE:
            let uri = try r.data(), title = try r.data(), version = try r.data(), modified = try r.i64()
            try r.end()
            return perCall {
                withChars(uri) { u, ul in withChars(title) { t, tl in withChars(version) { v, vl in
                    var s = bh_source()
                    s.struct_size = UInt32(MemoryLayout<bh_source>.size)
                    s.uri = bh_bytes(ptr: u, len: ul)
                    s.title = bh_bytes(ptr: t, len: tl)
                    s.version = bh_bytes(ptr: v, len: vl)
                    s.modified_ms = modified
                    return api.add_source(call, &s)
                } } }
            }
        case BHW_REPORT_EXCLUDED:
            let kind = try r.u32(), count = try r.u64(), why = try r.data()
            try r.end()
            return perCall { withChars(why) { api.report_excluded(call, bh_exclusion(rawValue: kind), count, $0, $1) } }
        case BHW_PROGRESS:
            let progress = Double(bitPattern: try r.u64()), total = Double(bitPattern: try r.u64()), message = try r.data()
            try r.end()
            return perCall { withChars(message) { api.progress(call, progress, total, $0, $1) } }
        case BHW_CAPABILITY:
            let token = try r.u64(), name = try r.data()
            try r.end()
            return plugin(token) { p in
                var cap = bh_cap()
                let s = withChars(name) { api.capability(p, $0, $1, &cap) }
                if s == BH_OK { out.fields.u64(cap.token) }
                return s
            }
        case BHW_FILE_OPEN:
            let token = try r.u64(), root = try r.u64(), path = try r.data(), flags = try r.u32()
            try r.end()
            return plugin(token) { p in
                var fd: Int32 = -1
                let s = withChars(path) { api.file_open(p, bh_cap(token: root), $0, $1, flags, &fd) }
                if s == BH_OK { out.descriptor = fd }
                return s
            }
        case BHW_FILE_STAT:
            let token = try r.u64(), root = try r.u64(), path = try r.data(), size = try r.u32()
            try r.end()
            return plugin(token) { p in
                var info = bh_file_info()
                info.struct_size = min(size, UInt32(MemoryLayout<bh_file_info>.size))
                let s = withChars(path) { api.file_stat(p, bh_cap(token: root), $0, $1, &info) }
                if s == BH_OK {
                    out.fields.u32(info.type)
                    out.fields.u64(info.size)
                    out.fields.i64(info.mtime_ns)
                }
                return s
            }
        case BHW_DIR_LIST:
            let token = try r.u64(), root = try r.u64(), path = try r.data()
            try r.end()
            return plugin(token) { p in
                let listing = DirListing()
                let box = Unmanaged.passUnretained(listing).toOpaque()
                let s = withChars(path) {
                    api.dir_list(p, bh_cap(token: root), $0, $1, { userData, info in
                        guard let userData, let info else { return 0 }
                        Unmanaged<DirListing>.fromOpaque(userData).takeUnretainedValue().add(info.pointee)
                        return 0
                    }, box)
                }
                if s == BH_OK {
                    out.fields.u32(UInt32(listing.count))
                    out.fields = FieldWriter(into: out.fields.bytes + listing.fields.bytes)
                }
                return s
            }
        case BHW_DIR_CREATE, BHW_FILE_REMOVE:
            let token = try r.u64(), root = try r.u64(), path = try r.data()
            try r.end()
            return plugin(token) { p in
                withChars(path) { op == BHW_DIR_CREATE ? api.dir_create(p, bh_cap(token: root), $0, $1) : api.file_remove(p, bh_cap(token: root), $0, $1) }
            }
        case BHW_FILE_RENAME:
            let token = try r.u64(), root = try r.u64(), from = try r.data(), to = try r.data()
            try r.end()
            return plugin(token) { p in
                withChars(from) { f, fl in withChars(to) { t, tl in api.file_rename(p, bh_cap(token: root), f, fl, t, tl) } }
            }
        case BHW_ROOT_PATH:
            let token = try r.u64(), root = try r.u64()
            try r.end()
            return plugin(token) { p in
                var value = bh_bytes()
                let s = api.root_path(p, bh_cap(token: root), &value)
                if s == BH_OK { out.fields.data(value) }
                return s
            }
        case BHW_SECRET_READ:
            let token = try r.u64(), secret = try r.u64(), size = try r.u64()
            try r.end()
            return plugin(token) { p in
                // The buffer is the core's; only what fits the plugin's is sent back.
                var buffer = [CChar](repeating: 0, count: Int(min(size, 1 << 20)) + 1)
                var length = 0
                let s = buffer.withUnsafeMutableBufferPointer { b in
                    api.secret_read(p, bh_cap(token: secret), b.baseAddress, Int(min(size, 1 << 20)), &length)
                }
                if s == BH_OK || s == BH_E_TOO_LARGE {
                    out.fields.u64(UInt64(length))
                    let sent = s == BH_OK ? min(length, buffer.count - 1) : 0
                    out.fields.data(buffer[..<sent].map { UInt8(bitPattern: $0) })
                }
                return s
            }
        case BHW_HTTP_REQUEST:
            let origin = try r.u64(), size = try r.u32(), timeout = try r.u32()
            let method = try r.data(), url = try r.data(), headers = try r.data(), body = try r.data()
            let responseSize = try r.u32()
            try r.end()
            return perCall {
                var response = bh_http_response()
                response.struct_size = min(responseSize, UInt32(MemoryLayout<bh_http_response>.size))
                let s = method.withUnsafeBytes { m in url.withUnsafeBytes { u in headers.withUnsafeBytes { h in body.withUnsafeBytes { b in
                    var request = bh_http_request()
                    request.struct_size = min(size, UInt32(MemoryLayout<bh_http_request>.size))
                    request.timeout_ms = timeout
                    request.method = bytes(m)
                    request.url = bytes(u)
                    request.headers = bytes(h)
                    request.body = bytes(b)
                    return api.http_request(call, bh_cap(token: origin), &request, &response)
                } } } }
                if s == BH_OK {
                    out.fields.u32(UInt32(bitPattern: response.status))
                    out.fields.data(response.headers)
                    out.fields.data(response.body)
                }
                return s
            }
        default:
            throw FieldReader.Malformed()
        }
    }
}

/// dir_list's entries, gathered for one reply.
private final class DirListing {
    var fields = FieldWriter()
    var count = 0

    func add(_ info: bh_file_info) {
        count += 1
        fields.u32(info.type)
        fields.data(info.name)
        fields.u64(info.size)
        fields.i64(info.mtime_ns)
    }
}

private func withChars<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
    bytes.withUnsafeBufferPointer { b in
        // Never NULL, even when empty: NULL with length 0 and "" mean different things to some functions.
        if b.count == 0 { return body("", 0) }
        return body(UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self), b.count)
    }
}

private func bytes(_ raw: UnsafeRawBufferPointer) -> bh_bytes {
    bh_bytes(ptr: raw.baseAddress?.assumingMemoryBound(to: CChar.self), len: raw.count)
}
