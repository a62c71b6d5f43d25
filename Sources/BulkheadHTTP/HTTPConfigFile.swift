import BulkheadProtocol

/// Reads `[http]` and `[oauth]` of bulkhead.toml. Every problem is one line
/// naming the key; an unknown key is a problem, so a typo never silently
/// leaves a wall down.
public enum HTTPConfigFile {
    public struct Problems: Error, CustomStringConvertible {
        public let lines: [String]
        public var description: String { lines.joined(separator: "; ") }
    }

    static let httpKeys = [
        "listen", "public_url", "allowed_origins", "allowed_hosts", "max_body_bytes", "body_timeout_seconds",
        "idle_timeout_seconds", "keepalive_seconds", "session_idle_seconds", "max_sessions", "max_connections",
    ]
    static let oauthKeys = [
        "issuers", "audiences", "jwks_file", "jwks_url", "authorization_servers", "scopes_supported",
        "principal_claim", "tenant_claim", "default_tenant", "leeway_seconds", "jwks_cache_seconds",
        "jwks_refresh_min_seconds", "required_typ",
    ]

    /// `listen` is returned apart: whether HTTP is on is the CLI's business.
    public static func parse(http: JSONObject?, oauth: JSONObject?, base: String, defaults: HTTPSettings)
        throws(Problems) -> (settings: HTTPSettings, listen: String?, oauth: OAuthSettings?)
    {
        var problems: [String] = []
        var s = defaults
        var listen: String?
        if let h = http {
            for key in h.keys.sorted() where !httpKeys.contains(key) {
                problems.append("[http]: unknown key '\(key)' (known: \(httpKeys.sorted().joined(separator: ", ")))")
            }
            if let v = h["listen"] {
                if let text = v.stringValue, HTTPSettings.parseListen(text) != nil { listen = text } else {
                    problems.append("[http] listen must be \"HOST:PORT\", e.g. \"127.0.0.1:8080\"")
                }
            }
            if let v = h["public_url"] {
                if let url = v.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://"),
                   OriginGuard.authority(of: url) != nil, !url.contains(" ") {
                    s.publicURL = url
                } else {
                    problems.append("[http] public_url must be an absolute http(s) URL, e.g. \"https://mcp.example.com/mcp\"")
                }
            }
            strings(h, "allowed_origins", "[http]", &problems).map { s.allowedOrigins = $0 }
            strings(h, "allowed_hosts", "[http]", &problems).map { s.allowedHosts = $0 }
            integer(h, "max_body_bytes", 1024...(256 << 20), "[http]", &problems).map { s.maxBodyBytes = $0 }
            number(h, "body_timeout_seconds", 0.1...3600, "[http]", &problems).map { s.bodyTimeoutSeconds = $0 }
            number(h, "idle_timeout_seconds", 1...86_400, "[http]", &problems).map { s.idleTimeoutSeconds = $0 }
            number(h, "keepalive_seconds", 0.05...3600, "[http]", &problems).map { s.keepAliveSeconds = $0 }
            number(h, "session_idle_seconds", 1...(7 * 86_400), "[http]", &problems).map { s.sessionIdleSeconds = $0 }
            integer(h, "max_sessions", 1...1_000_000, "[http]", &problems).map { s.maxSessions = $0 }
            integer(h, "max_connections", 1...1_000_000, "[http]", &problems).map { s.maxConnections = $0 }
        }
        var o: OAuthSettings?
        if let t = oauth {
            for key in t.keys.sorted() where !oauthKeys.contains(key) {
                problems.append("[oauth]: unknown key '\(key)' (known: \(oauthKeys.sorted().joined(separator: ", ")))")
            }
            let issuers = strings(t, "issuers", "[oauth]", &problems) ?? []
            if issuers.isEmpty { problems.append("[oauth] issuers = [\"https://issuer.example/\"] is required") }
            var settings = OAuthSettings(issuers: issuers)
            strings(t, "audiences", "[oauth]", &problems).map { settings.audiences = $0 }
            strings(t, "authorization_servers", "[oauth]", &problems).map { settings.authorizationServers = $0 }
            strings(t, "scopes_supported", "[oauth]", &problems).map { settings.scopesSupported = $0 }
            if let f = t["jwks_file"] {
                if let path = f.stringValue, !path.isEmpty { settings.jwksFile = path.hasPrefix("/") ? path : base + "/" + path } else {
                    problems.append("[oauth] jwks_file must be a path")
                }
            }
            if let u = t["jwks_url"] {
                if let url = u.stringValue, url.hasPrefix("https://") || url.hasPrefix("http://") { settings.jwksURL = url } else {
                    problems.append("[oauth] jwks_url must be an http(s) URL")
                }
            }
            if (settings.jwksFile == nil) == (settings.jwksURL == nil) {
                problems.append("[oauth]: set exactly one of jwks_file and jwks_url")
            }
            string(t, "principal_claim", "[oauth]", &problems).map { settings.principalClaim = $0 }
            string(t, "tenant_claim", "[oauth]", &problems).map { settings.tenantClaim = $0 }
            string(t, "default_tenant", "[oauth]", &problems).map { settings.defaultTenant = $0 }
            string(t, "required_typ", "[oauth]", &problems).map { settings.requiredType = $0 }
            integer(t, "leeway_seconds", 0...600, "[oauth]", &problems).map { settings.leewaySeconds = $0 }
            integer(t, "jwks_cache_seconds", 1...604_800, "[oauth]", &problems).map { settings.jwksCacheSeconds = $0 }
            integer(t, "jwks_refresh_min_seconds", 1...86_400, "[oauth]", &problems).map { settings.jwksRefreshMinimumSeconds = $0 }
            o = settings
        }
        guard problems.isEmpty else { throw Problems(lines: problems) }
        return (s, listen, o)
    }

    private static func strings(_ t: JSONObject, _ key: String, _ table: String, _ problems: inout [String]) -> [String]? {
        guard let v = t[key] else { return nil }
        guard case .array(let a) = v, a.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
            problems.append("\(table) \(key) must be a list of non-empty strings")
            return nil
        }
        return a.compactMap(\.stringValue)
    }

    private static func string(_ t: JSONObject, _ key: String, _ table: String, _ problems: inout [String]) -> String? {
        guard let v = t[key] else { return nil }
        guard let s = v.stringValue, !s.isEmpty else {
            problems.append("\(table) \(key) must be a non-empty string")
            return nil
        }
        return s
    }

    private static func integer(_ t: JSONObject, _ key: String, _ range: ClosedRange<Int>, _ table: String,
                                _ problems: inout [String]) -> Int? {
        guard let v = t[key] else { return nil }
        guard let n = v.intValue.flatMap({ Int(exactly: $0) }), range.contains(n) else {
            problems.append("\(table) \(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return n
    }

    private static func number(_ t: JSONObject, _ key: String, _ range: ClosedRange<Double>, _ table: String,
                               _ problems: inout [String]) -> Double? {
        guard let v = t[key] else { return nil }
        guard let n = v.doubleValue, range.contains(n) else {
            problems.append("\(table) \(key) must be a number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return n
    }
}
