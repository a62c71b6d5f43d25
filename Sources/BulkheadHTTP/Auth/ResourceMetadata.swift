import BulkheadProtocol

/// RFC 9728 protected-resource metadata and the RFC 6750 challenges that point to it.
struct ResourceMetadata: Sendable {
    /// The endpoint's URL, exactly as clients use it (RFC 9728 §3.3: they compare).
    let resourceURL: ResourceURL
    var resource: String { resourceURL.value }
    let authorizationServers: [String]
    let scopesSupported: [String]

    /// `https://h/.well-known/oauth-protected-resource/mcp` for `https://h/mcp`.
    var url: String {
        guard let scheme = resource.range(of: "://") else { return resource }
        let rest = resource[scheme.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let origin = resource[..<slash]
        let path = rest[slash...]
        return origin + Self.wellKnown + (path == "/" ? "" : path)
    }

    static let wellKnown = "/.well-known/oauth-protected-resource"

    /// The paths the document is served at: the path-inserted form and the root one.
    var paths: [String] {
        var out = [Self.wellKnown]
        if let authority = OriginGuard.authority(of: resource),
           let range = resource.range(of: authority) {
            let path = resource[range.upperBound...].split(separator: "?").first.map(String.init) ?? ""
            if !path.isEmpty, path != "/" { out.append(Self.wellKnown + path) }
        }
        return out
    }

    var document: [UInt8] {
        var o: JSONObject = [
            "resource": .string(resource),
            "authorization_servers": .array(authorizationServers.map { .string($0) }),
            "bearer_methods_supported": .array([.string("header")]),
            "resource_name": .string("Bulkhead"),
        ]
        if !scopesSupported.isEmpty { o["scopes_supported"] = .array(scopesSupported.map { .string($0) }) }
        return JSONValue.object(o).serialized()
    }
}

/// `WWW-Authenticate` values.
enum Challenge {
    /// 401: no token (no error code, RFC 6750 §3.1), or a refused one (`invalid_token`).
    static func unauthorized(_ failure: AuthFailure, metadata: ResourceMetadata?) -> String {
        var parts = [#"Bearer realm="bulkhead""#]
        if let metadata { parts.append(#"resource_metadata="\#(metadata.url)""#) }
        if failure.reason != .missing {
            parts.append(#"error="invalid_token""#)
            parts.append(#"error_description="\#(quoted(failure.description))""#)
        }
        return parts.joined(separator: ", ")
    }

    /// 403: the token is good but lacks scopes this request needs (all of them, in one challenge).
    static func insufficientScope(_ scopes: [String], metadata: ResourceMetadata?) -> String {
        var parts = [#"Bearer realm="bulkhead""#, #"error="insufficient_scope""#, #"scope="\#(quoted(scopes.joined(separator: " ")))""#]
        if let metadata { parts.append(#"resource_metadata="\#(metadata.url)""#) }
        parts.append(#"error_description="the token lacks a scope this request needs""#)
        return parts.joined(separator: ", ")
    }

    private static func quoted(_ s: String) -> String {
        String(s.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" }.map(Character.init))
    }
}
