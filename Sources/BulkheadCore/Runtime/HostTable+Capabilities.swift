#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import CHTTPClient
import Logging

/// The capability half of the host table: every function finds the plugin by
/// its handle and the capability by its token *in that plugin's own set*, so
/// a token issued to another plugin, a forged value, or the token of a plugin
/// that is gone is refused before anything is touched. Every refusal is
/// logged with the plugin, the capability and the target, and its reason is
/// left for host->last_error.
extension HostTable {
    static func installCapabilities(_ api: inout bh_host_api) {
        api.capability = { plugin, name, nameLen, out in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let out, let key = validatedUTF8(name, nameLen) else { return fail(BH_E_INVALID, "capability: a NULL out or a name that is not UTF-8") }
            if let held = instance.capabilities.byName[exactly: key] {
                out.pointee = bh_cap(token: held.token)
                return BH_OK
            }
            guard let request = instance.manifest.capabilities.first(where: { $0.name.isExactly(key) }) else {
                return fail(BH_E_NOT_FOUND, "capability '\(key)' is not requested in manifest.toml")
            }
            return refuse(instance, capability: key, kind: request.kind, target: "-",
                          "the operator did not grant it (or it could not be honoured; see bulkhead check)")
        }

        api.file_open = { plugin, root, path, pathLen, flags, fdOut in
            files(plugin, root, op: "open", path, pathLen) { instance, held, fileRoot, rel in
                guard let fdOut else { return fail(BH_E_INVALID, "file_open: fd_out is NULL") }
                if flags & fileChangingFlags != 0, let refused = refuseInReadTool(instance, held, op: "open", target: rel) {
                    return refused
                }
                switch fileRoot.open(rel, flags: flags) {
                case .success(let fd):
                    fdOut.pointee = fd
                    return BH_OK
                case .failure(let why):
                    return report(why, instance, held, target: rel, op: "open")
                }
            }
        }

        api.file_stat = { plugin, root, path, pathLen, out in
            files(plugin, root, op: "stat", path, pathLen) { instance, held, fileRoot, rel in
                guard let out, Int(out.pointee.struct_size) >= MemoryLayout<bh_file_info>.size else {
                    return fail(BH_E_INVALID, "file_stat: out is NULL or its struct_size is too small")
                }
                switch fileRoot.info(rel) {
                case .success(let st):
                    fill(out, st, name: bh_bytes(ptr: nil, len: 0))
                    return BH_OK
                case .failure(let why):
                    return report(why, instance, held, target: rel, op: "stat")
                }
            }
        }

        api.dir_list = { plugin, root, path, pathLen, fn, userData in
            files(plugin, root, op: "list", path, pathLen) { instance, held, fileRoot, rel in
                guard let fn else { return fail(BH_E_INVALID, "dir_list: fn is NULL") }
                let listed = fileRoot.list(rel) { name, st in
                    var info = bh_file_info()
                    info.struct_size = UInt32(MemoryLayout<bh_file_info>.size)
                    return name.withCString { cName in
                        fill(&info, st, name: bh_bytes(ptr: cName, len: name.utf8.count))
                        return fn(userData, &info) == 0
                    }
                }
                switch listed {
                case .success: return BH_OK
                case .failure(let why): return report(why, instance, held, target: rel, op: "list")
                }
            }
        }

        api.dir_create = { plugin, root, path, pathLen in
            files(plugin, root, op: "mkdir", path, pathLen) { instance, held, fileRoot, rel in
                if let refused = refuseInReadTool(instance, held, op: "mkdir", target: rel) { return refused }
                switch fileRoot.makeDirectory(rel) {
                case .success: return BH_OK
                case .failure(let why): return report(why, instance, held, target: rel, op: "mkdir")
                }
            }
        }

        api.file_remove = { plugin, root, path, pathLen in
            files(plugin, root, op: "remove", path, pathLen) { instance, held, fileRoot, rel in
                if let refused = refuseInReadTool(instance, held, op: "remove", target: rel) { return refused }
                switch fileRoot.remove(rel) {
                case .success: return BH_OK
                case .failure(let why): return report(why, instance, held, target: rel, op: "remove")
                }
            }
        }

        api.file_rename = { plugin, root, from, fromLen, to, toLen in
            files(plugin, root, op: "rename", from, fromLen) { instance, held, fileRoot, source in
                if let refused = refuseLongPath("rename", toLen) { return refused }
                guard let target = validatedUTF8(to, toLen) else { return fail(BH_E_INVALID, "file_rename: the target path is not UTF-8") }
                if let refused = refuseInReadTool(instance, held, op: "rename", target: "\(source) -> \(target)") { return refused }
                switch fileRoot.rename(source, to: target) {
                case .success: return BH_OK
                case .failure(let why): return report(why, instance, held, target: "\(source) -> \(target)", op: "rename")
                }
            }
        }

        api.root_path = { plugin, root, out in
            files(plugin, root, op: "root_path", nil, 0) { _, _, fileRoot, _ in
                guard let out else { return fail(BH_E_INVALID, "root_path: out is NULL") }
                out.pointee = fileRoot.lentPath
                return BH_OK
            }
        }

        api.secret_read = { plugin, secret, buf, bufSize, lenOut in
            guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
            guard let held = lookup(instance, secret, op: "secret_read") else { return BH_E_NOT_ALLOWED }
            guard case .secret(let value) = held.body else {
                return fail(BH_E_INVALID, "secret_read: '\(held.name)' is a \(held.kind.rawValue) capability, not a secret")
            }
            guard let lenOut else { return fail(BH_E_INVALID, "secret_read: len_out is NULL") }
            lenOut.pointee = value.count
            guard let buf, bufSize >= value.count else {
                return fail(BH_E_TOO_LARGE, "secret_read: '\(held.name)' needs a buffer of \(value.count) bytes")
            }
            value.withUnsafeBytes { UnsafeMutableRawPointer(buf).copyMemory(from: $0.baseAddress!, byteCount: value.count) }
            return BH_OK
        }

        api.http_request = { call, origin, req, out in
            guard let state = CurrentCall.find(call.token) else { return staleHandle("call", call.token) }
            let instance = state.plugin
            guard let held = lookup(instance, origin, op: "http_request") else { return BH_E_NOT_ALLOWED }
            guard case .http(let grant) = held.body else {
                return fail(BH_E_INVALID, "http_request: '\(held.name)' is a \(held.kind.rawValue) capability, not http")
            }
            return HTTPCall.perform(state: state, held: held, grant: grant, req, out)
        }

        api.last_error = { out in
            guard let out else { return BH_E_INVALID }
            out.pointee = LastError.get()
            return BH_OK
        }
    }
}

// MARK: Shared steps

/// Finds `cap` in the plugin's own capabilities; anything else is refused and
/// logged, and nil tells the caller to answer BH_E_NOT_ALLOWED.
func lookup(_ instance: PluginInstance, _ cap: bh_cap, op: String) -> HeldCapability? {
    if let held = instance.capabilities.byToken[cap.token] { return held }
    let why: String
    if let owner = HandleTable.shared.owner(ofCapability: cap.token) {
        why = "the token was issued to plugin '\(owner)', not to this one"
    } else {
        why = "the token is forged, or belonged to a plugin that is no longer loaded"
    }
    refuse(instance, capability: "token 0x\(String(cap.token, radix: 16))", kind: nil, target: op, why)
    return nil
}

/// The common path of every file function: plugin, token, kind, path.
private func files(_ plugin: bh_plugin, _ cap: bh_cap, op: String, _ path: UnsafePointer<CChar>?, _ pathLen: Int,
                   _ body: (PluginInstance, HeldCapability, FileRoot, String) -> bh_status) -> bh_status {
    guard let instance = HandleTable.shared.plugin(plugin.token) else { return staleHandle("plugin", plugin.token) }
    guard let held = lookup(instance, cap, op: op) else { return BH_E_NOT_ALLOWED }
    guard case .files(let root) = held.body else {
        return fail(BH_E_INVALID, "\(op): '\(held.name)' is a \(held.kind.rawValue) capability, not a files root")
    }
    if let refused = refuseLongPath(op, pathLen) { return refused }
    guard let rel = validatedUTF8(path, pathLen) else { return fail(BH_E_INVALID, "\(op): the path is NULL or not UTF-8") }
    return body(instance, held, root, rel)
}

/// The kernel takes at most PATH_MAX bytes with the NUL, so a longer path
/// could only fail later, as BH_E_IO; refused up front, before its bytes are
/// read, it fails the same way every time, with a reason that says so.
func refuseLongPath(_ op: String, _ length: Int) -> bh_status? {
    guard length < 0 || length > FileRoot.longestPath else { return nil }
    let size = length < 0 ? String(UInt(bitPattern: length)) : String(length)
    return fail(BH_E_INVALID, "\(op): the path is \(size) bytes; the longest accepted is \(FileRoot.longestPath)")
}

/// The file_open flags that change a file; with any of them an open is a write.
private let fileChangingFlags = UInt32(BH_FILE_WRITE | BH_FILE_CREATE | BH_FILE_TRUNCATE | BH_FILE_APPEND)

/// A tool declared access = "read" is served without its human's consent, so
/// during its call nothing it does through the host table may change a file,
/// whatever its root allows. The call is known only on the thread the core
/// called it on: init and threads the plugin started are not in a call (see
/// "Read tools do not write" in bulkhead.h). Returns the refusal, or nil to go on.
private func refuseInReadTool(_ instance: PluginInstance, _ held: HeldCapability, op: String, target: String) -> bh_status? {
    guard let call = CurrentCall.onThisThread() else { return nil }
    // Every called tool is in its manifest; one that were not is held to the stricter rule.
    let access = call.plugin.manifest.tools.first(where: { $0.name.isExactly(call.tool) })?.access ?? .read
    guard access == .read else { return nil }
    return refuse(instance, capability: held.name, kind: .files, target: "\(op) '\(target)'",
                  "tool '\(call.tool)' is declared access = \"read\" in manifest.toml, and a read tool does not change files")
}

/// Maps a file failure onto a status; refusals are logged as such.
private func report(_ why: FileRoot.Failure, _ instance: PluginInstance, _ held: HeldCapability,
                    target: String, op: String) -> bh_status {
    switch why {
    case .notAllowed(let reason):
        return refuse(instance, capability: held.name, kind: .files, target: "\(op) '\(target)'", reason)
    case .notFound: return fail(BH_E_NOT_FOUND, "\(op) '\(target)': no such file or directory in root '\(held.name)'")
    case .exists: return fail(BH_E_EXISTS, "\(op) '\(target)': already exists in root '\(held.name)'")
    case .invalid(let reason): return fail(BH_E_INVALID, "\(op) '\(target)': \(reason)")
    case .io(let reason): return fail(BH_E_IO, "\(op) '\(target)': \(reason)")
    }
}

private func fill(_ out: UnsafeMutablePointer<bh_file_info>, _ st: stat, name: bh_bytes) {
    let type: bh_file_type
    switch st.st_mode & S_IFMT {
    case S_IFREG: type = BH_FILE_TYPE_REGULAR
    case S_IFDIR: type = BH_FILE_TYPE_DIRECTORY
    case S_IFLNK: type = BH_FILE_TYPE_SYMLINK
    default: type = BH_FILE_TYPE_OTHER
    }
    out.pointee.type = type.rawValue
    out.pointee.name = name
    out.pointee.size = UInt64(max(0, st.st_size))
    out.pointee.mtime_ns = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
}

private let capabilityLogger = Logger(label: "bulkhead.capability")

/// Logs a refusal with plugin, capability and target, and returns BH_E_NOT_ALLOWED.
@discardableResult
func refuse(_ instance: PluginInstance, capability: String, kind: CapabilityKind?, target: String, _ reason: String) -> bh_status {
    var logger = capabilityLogger
    logger[metadataKey: "plugin"] = .string(instance.name)
    logger[metadataKey: "capability"] = .string(capability)
    if let kind { logger[metadataKey: "kind"] = .string(kind.rawValue) }
    logger[metadataKey: "target"] = .string(instance.capabilities.scrub(target))
    logger.warning("refused: \(reason)")
    LastError.set("not allowed: \(capability): \(target): \(reason)")
    return BH_E_NOT_ALLOWED
}

/// Records why a capability function failed (not a refusal) and returns `status`.
func fail(_ status: bh_status, _ reason: String) -> bh_status {
    LastError.set(reason)
    return status
}
