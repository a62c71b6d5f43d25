/// The browser-facing walls: `Origin` (a web page may not drive the endpoint
/// unless its origin is allowed) and `Host` (DNS rebinding: a page on
/// evil.example that resolves its name to 127.0.0.1 still sends
/// `Host: evil.example`).
struct OriginGuard: Sendable {
    let settings: HTTPSettings
    private let allowedOrigins: Set<String>
    private let allowedHosts: Set<String>

    init(settings: HTTPSettings) {
        self.settings = settings
        self.allowedOrigins = Set(settings.allowedOrigins.map { Self.normalizeOrigin($0) })
        var hosts = Set(settings.allowedHosts.map { $0.lowercased() })
        if let publicURL = settings.publicURL, let authority = Self.authority(of: publicURL) {
            hosts.insert(authority.lowercased())
            hosts.insert(Self.hostName(authority).lowercased())
        }
        self.allowedHosts = hosts
    }

    enum Verdict: Equatable {
        case allowed
        case forbidden(String)
    }

    func check(origin: String?, host: String?) -> Verdict {
        if let host {
            let name = Self.hostName(host).lowercased()
            let ok: Bool
            if allowedHosts.contains(host.lowercased()) || allowedHosts.contains(name) {
                ok = true
            } else if settings.bindsLoopback {
                // A loopback listener answers only to loopback names.
                ok = OriginGuard.isLoopbackHost(name)
            } else {
                // Bound to a routable address with no names configured: the address itself.
                ok = allowedHosts.isEmpty || name == settings.host.lowercased()
            }
            if !ok { return .forbidden("Host \(Self.printable(host)) is not a name this server answers to") }
        }
        // "null" is what sandboxed frames and file: pages send: a browser context
        // like any other, refused unless the operator allowed it by name.
        if let origin {
            let normalized = Self.normalizeOrigin(origin)
            if allowedOrigins.contains(normalized) { return .allowed }
            if settings.bindsLoopback, let authority = Self.authority(of: normalized),
               OriginGuard.isLoopbackHost(Self.hostName(authority).lowercased()) {
                return .allowed
            }
            return .forbidden("Origin \(Self.printable(origin)) is not allowed")
        }
        return .allowed
    }

    static func isLoopbackHost(_ name: String) -> Bool {
        name == "localhost" || name == "::1" || name.hasPrefix("127.") && name.allSatisfy { $0.isNumber || $0 == "." }
    }

    /// `host` of `host:port`, `[v6]:port` or `host`.
    static func hostName(_ authority: String) -> String {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return authority }
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        if let colon = authority.lastIndex(of: ":") { return String(authority[..<colon]) }
        return authority
    }

    /// The authority of `scheme://authority/...`.
    static func authority(of url: String) -> String? {
        guard let range = url.range(of: "://") else { return nil }
        let rest = url[range.upperBound...]
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<end]
        return authority.isEmpty ? nil : String(authority)
    }

    static func normalizeOrigin(_ origin: String) -> String {
        var o = origin.lowercased()
        while o.hasSuffix("/") { o.removeLast() }
        return o
    }

    /// A header value fit for an error message: bounded, printable ASCII.
    static func printable(_ text: String) -> String {
        let cut = text.prefix(100).map { $0.isASCII && !$0.isNewline && $0 >= " " ? String($0) : "?" }.joined()
        return "'\(cut)'"
    }
}
