import CHTTPClient

/// An origin an http grant allows: scheme, host and port, exactly. Parsed
/// with curl's own URL parser, the one the request will be made with, so the
/// check and the connection cannot disagree about what a URL means.
public struct HTTPOrigin: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    public var description: String { "\(scheme)://\(host):\(port)" }

    struct Problem: Error {
        let message: String
    }

    /// An origin as the operator writes it: "https://api.example.com" or "http://127.0.0.1:8080".
    static func parse(_ text: String) -> Result<HTTPOrigin, Problem> {
        guard let o = of(url: text) else {
            return .failure(Problem(message: "not an http:// or https:// origin"))
        }
        // Nothing after the authority: a grant is for an origin, not a path.
        let afterScheme = text.drop(while: { $0 != ":" }).dropFirst(3)
        if let slash = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }),
           afterScheme[slash...] != "/" {
            return .failure(Problem(message: "an origin has no path, query or fragment"))
        }
        return .success(o)
    }

    /// The origin of an absolute URL, or nil when curl would not read it as http(s).
    static func of(url: String) -> HTTPOrigin? {
        var o = bhc_origin()
        guard bhc_url_origin(url, &o) == BHC_OK else { return nil }
        let scheme = withUnsafeBytes(of: o.scheme) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let host = withUnsafeBytes(of: o.host) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return HTTPOrigin(scheme: scheme, host: host, port: o.port)
    }

    var cOrigin: bhc_origin {
        var o = bhc_origin()
        withUnsafeMutableBytes(of: &o.scheme) { buf in
            for (i, b) in scheme.utf8.prefix(buf.count - 1).enumerated() { buf[i] = b }
        }
        withUnsafeMutableBytes(of: &o.host) { buf in
            for (i, b) in host.utf8.prefix(buf.count - 1).enumerated() { buf[i] = b }
        }
        o.port = port
        return o
    }
}
