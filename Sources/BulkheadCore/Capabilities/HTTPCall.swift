import BulkheadProtocol
import CBulkhead
import CHTTPClient

/// One host->http_request: checks the method, the URL and the headers
/// (HTTPRequestRules) and the URL's origin against the grant before any
/// connection is made, bounds the time by the grant and the call's
/// deadline, lets the call's cancellation abort the transfer, and lends the
/// response to the plugin until its tool function returns.
enum HTTPCall {
    static func perform(state: CallState, held: HeldCapability, grant: CapabilityGrant.HTTPGrant,
                        _ req: UnsafePointer<bh_http_request>?, _ out: UnsafeMutablePointer<bh_http_response>?) -> bh_status {
        let instance = state.plugin
        guard let req, Int(req.pointee.struct_size) >= MemoryLayout<bh_http_request>.size,
              let out, Int(out.pointee.struct_size) >= MemoryLayout<bh_http_response>.size
        else { return fail(BH_E_INVALID, "http_request: req or out is NULL, or its struct_size is too small") }
        let r = req.pointee
        guard let url = validatedUTF8(r.url.ptr, r.url.len), !url.utf8.contains(0) else {
            return fail(BH_E_INVALID, "http_request: the URL is not UTF-8")
        }
        if let problem = HTTPRequestRules.urlProblem(url) {
            return fail(BH_E_INVALID, "http_request: \(problem)")
        }
        guard let methodBytes = bh_bytes.view(r.method.ptr, r.method.len),
              let headers = bh_bytes.view(r.headers.ptr, r.headers.len), let body = bh_bytes.view(r.body.ptr, r.body.len) else {
            return fail(BH_E_INVALID, "http_request: method, headers or body is NULL with a non-zero length")
        }
        let checked: HTTPRequestRules.Checked
        switch HTTPRequestRules.check(method: methodBytes, headers: headers, bodyLength: body.count) {
        case .success(let c): checked = c
        case .failure(.malformed(let why)): return fail(BH_E_INVALID, "http_request: \(why)")
        case .failure(.reserved(let why)):
            return refuse(instance, capability: held.name, kind: .http, target: loggable(url), why)
        }
        let method = checked.method
        guard let origin = HTTPOrigin.of(url: url) else {
            return fail(BH_E_INVALID, "http_request: '\(loggable(url))' is not an absolute http:// or https:// URL")
        }
        let target = "\(method) \(loggable(url))"
        guard grant.origins.contains(origin) else {
            return refuse(instance, capability: held.name, kind: .http, target: target,
                          "origin \(origin) is not granted (granted: \(grant.origins.map(\.description).joined(separator: ", ")))")
        }

        var timeout = grant.timeoutMilliseconds
        if r.timeout_ms > 0 { timeout = min(timeout, Int(r.timeout_ms)) }
        if let deadline = state.deadline {
            let now = MonotonicClock.now()
            guard now < deadline else { return fail(BH_E_CANCELLED, "http_request: the call's deadline has passed") }
            timeout = min(timeout, max(1, Int((deadline - now) / 1_000_000)))
        }

        var result = bhc_http_result()
        var allowed = origin.cOrigin
        let context = Unmanaged.passUnretained(state).toOpaque()
        let cHeaders = checked.headers.map { CChar(bitPattern: $0) }
        let err = body.withMemoryRebound(to: CChar.self) { b in
            bhc_http_perform(method, url, &allowed, cHeaders, cHeaders.count, b.baseAddress, b.count,
                             timeout, grant.maxResponseBytes,
                             { ctx in Unmanaged<CallState>.fromOpaque(ctx!).takeUnretainedValue().isCancelled ? 1 : 0 },
                             context, &result)
        }
        let message = withUnsafeBytes(of: result.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        switch err {
        case BHC_OK:
            out.pointee.status = Int32(truncatingIfNeeded: result.status)
            // Plain addresses cross into the lock: the buffers are the call's from here on.
            let headers = (UInt(bitPattern: result.headers), result.headers_len)
            let body = (UInt(bitPattern: result.body), result.body_len)
            let lent = state.answer.withLock { a in
                (a.lent.adopt(UnsafeMutablePointer(bitPattern: headers.0)!, length: headers.1),
                 a.lent.adopt(UnsafeMutablePointer(bitPattern: body.0)!, length: body.1))
            }
            out.pointee.headers = lent.0
            out.pointee.body = lent.1
            return BH_OK
        case BHC_FORBIDDEN:
            return refuse(instance, capability: held.name, kind: .http, target: target, message)
        case BHC_TOO_LARGE:
            return fail(BH_E_TOO_LARGE, "\(target): the response exceeds the grant's \(grant.maxResponseBytes) bytes")
        case BHC_CANCELLED:
            return fail(BH_E_CANCELLED, "\(target): the call was cancelled")
        case BHC_TIMEOUT:
            return fail(BH_E_CANCELLED, "\(target): no response within \(timeout) ms")
        case BHC_INVALID:
            return fail(BH_E_INVALID, "\(target): \(message)")
        default:
            return fail(BH_E_IO, "\(target): \(message)")
        }
    }

    /// The URL without its query, fragment or user info, fit for a log line.
    static func loggable(_ url: String) -> String {
        var s = Substring(url)
        if let cut = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<cut] }
        if let scheme = s.range(of: "://") {
            let authorityStart = scheme.upperBound
            let authorityEnd = s[authorityStart...].firstIndex(of: "/") ?? s.endIndex
            if let at = s[authorityStart..<authorityEnd].lastIndex(of: "@") {
                s = s[..<authorityStart] + s[s.index(after: at)...]
            }
        }
        return String(s)
    }
}
