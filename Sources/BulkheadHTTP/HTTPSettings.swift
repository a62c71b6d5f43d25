/// How the HTTP listener behaves: `[http]` in bulkhead.toml, and `--http`.
public struct HTTPSettings: Sendable {
    /// Address to bind; 127.0.0.1 unless the operator says otherwise.
    public var host = "127.0.0.1"
    public var port = 8080
    /// The URL clients use for the endpoint, e.g. `https://mcp.example.com/mcp`
    /// behind a proxy. It is the `resource` of the protected-resource metadata and
    /// the default token audience, so it must be exactly what clients connect to.
    /// Nil: `http://HOST:PORT/mcp`.
    public var publicURL: String?
    /// Browser origins (`scheme://host[:port]`) allowed besides the loopback ones
    /// a loopback listener allows by itself.
    public var allowedOrigins: [String] = []
    /// `Host` header values (host or host:port) accepted besides the loopback
    /// names and the public URL's host: the DNS-rebinding check.
    public var allowedHosts: [String] = []
    /// Largest request body; larger is 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// How long a client may take to send a request's body.
    public var bodyTimeoutSeconds = 30.0
    /// A connection with no request for this long is closed.
    public var idleTimeoutSeconds = 60.0
    /// SSE comment keep-alives on open streams, this often.
    public var keepAliveSeconds = 15.0
    /// A 2025-11-25 session with no request for this long is ended.
    public var sessionIdleSeconds = 3600.0
    /// Most 2025-11-25 sessions open at once; past it the least recently used idle one ends.
    public var maxSessions = 10_000
    /// Most connections open at once; past it new ones wait in the listen backlog.
    public var maxConnections = 4096

    public init() {}

    /// The endpoint's URL as clients see it.
    public var resourceURL: String {
        if let publicURL { return publicURL }
        let h = host.contains(":") ? "[\(host)]" : host
        return "http://\(h):\(port)/mcp"
    }

    /// Whether the listener is on a loopback address only.
    public var bindsLoopback: Bool {
        Self.isLoopbackName(host)
    }

    static func isLoopbackName(_ host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h == "[::1]" || h.hasPrefix("127.")
    }

    /// Parses `HOST:PORT` (`[::1]:8080` for IPv6); nil when malformed.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        var hostPart: Substring
        var portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") { return nil }
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else { return nil }
        return (String(hostPart), port)
    }
}
