/// What a plugin may put into the method and headers of an outbound request,
/// so that what leaves is exactly one request, framed by the core, to the
/// origin the grant names. The framing (Host, Content-Length, how the body is
/// delimited) and the connection (keep-alive, upgrades, proxies) are the
/// core's; a plugin names a method, a URL, end-to-end headers and a body.
///
/// Checked before libcurl sees anything, and strictly: a line curl would
/// read specially ("Name:" removes curl's own header, "Name;" sends an empty
/// one) or a byte a server might split on is refused, never repaired,
/// because a repaired request is one the plugin did not ask for.
enum HTTPRequestRules {
    /// Why a request was refused. `malformed` is not a method or header at
    /// all (BH_E_INVALID); `reserved` is well-formed but the core's to set
    /// (BH_E_NOT_ALLOWED). Messages never quote a header's value: it may be a
    /// credential.
    enum Refusal: Error, Equatable {
        case malformed(String)
        case reserved(String)
    }

    struct Checked: Equatable {
        var method: String
        /// "Name: value\n" per header, values trimmed; what the C client splits.
        var headers: [UInt8]
    }

    /// Longest method accepted; the longest registered one (UPDATEREDIRECTREF) has 17.
    static let maxMethodLength = 64

    /// Header names (lower-case) only the core sets. Framing: a second Host,
    /// Content-Length or Transfer-Encoding is how a request is smuggled past
    /// the origin's front end; Expect, TE and Trailer change how the body and
    /// the response are delimited. Connection-level: Connection (which can
    /// also name other headers for a proxy to drop), Keep-Alive, Upgrade and
    /// HTTP2-Settings switch or hold the connection. Proxy-* speak to a proxy,
    /// and the core uses none.
    static let reservedNames: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive",
        "te", "trailer", "upgrade", "http2-settings", "expect",
    ]
    static let reservedPrefixes = ["proxy-"]

    /// CONNECT asks the origin to become a tunnel to somewhere else.
    static let reservedMethods: Set<String> = ["CONNECT"]

    static func check(method: some Collection<UInt8>, headers: some Collection<UInt8>,
                      bodyLength: Int) -> Result<Checked, Refusal> {
        let m: String
        switch Self.method(method) {
        case .success(let text): m = text
        case .failure(let why): return .failure(why)
        }
        if m == "HEAD" && bodyLength > 0 {
            return .failure(.malformed("a HEAD request has no body"))
        }
        return Self.headers(headers).map { Checked(method: m, headers: $0) }
    }

    /// The method: empty means GET; otherwise an RFC 9110 token, sent as
    /// given (methods are case-sensitive).
    static func method(_ bytes: some Collection<UInt8>) -> Result<String, Refusal> {
        if bytes.isEmpty { return .success("GET") }
        guard bytes.count <= maxMethodLength, bytes.allSatisfy(isTokenChar) else {
            return .failure(.malformed("method \(printable(bytes)) is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~; no spaces, no line breaks), like GET"))
        }
        let m = String(decoding: bytes, as: UTF8.self)
        if reservedMethods.contains(m) {
            return .failure(.reserved("method \(m) is not allowed: it would turn the origin into a tunnel elsewhere"))
        }
        return .success(m)
    }

    /// The header block: lines separated by "\n" or "\r\n", blank lines
    /// ignored, each "Name: value" with a token name and a non-empty value.
    static func headers(_ bytes: some Collection<UInt8>) -> Result<[UInt8], Refusal> {
        var out: [UInt8] = []
        var number = 0
        let all = Array(bytes)
        for var line in all.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(.malformed("header line \(number) is not \"Name: value\""))
            }
            let name = line[..<colon]
            // A line that starts with a space or tab continues the previous
            // one (obs-fold), and "Name :" is a name with a space in it: both
            // are refused by the token rule, as RFC 9112 tells servers to.
            guard !name.isEmpty, name.allSatisfy(isTokenChar) else {
                return .failure(.malformed("header line \(number): the name is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~, with no spaces before the colon)"))
            }
            let nameText = String(decoding: name, as: UTF8.self)
            let lower = nameText.lowercased()
            if reservedNames.contains(lower) || reservedPrefixes.contains(where: { lower.hasPrefix($0) }) {
                return .failure(.reserved("header \(nameText) is set by the core, not by a plugin (the core frames the request and owns the connection)"))
            }
            var value = line[line.index(after: colon)...]
            while let f = value.first, f == 0x20 || f == 0x09 { value = value.dropFirst() }
            while let l = value.last, l == 0x20 || l == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .failure(.malformed("header \(nameText): the value contains a control character (CR, LF, NUL or another)"))
            }
            guard !value.isEmpty else {
                return .failure(.malformed("header \(nameText) has an empty value (libcurl would read \"\(nameText):\" as removing a header of its own)"))
            }
            out += name
            out += [UInt8(ascii: ":"), UInt8(ascii: " ")]
            out += value
            out.append(UInt8(ascii: "\n"))
        }
        return .success(out)
    }

    /// A URL may hold no byte a request line could be split on: curl's
    /// parser refuses these too, but the rule is the core's, not a detail of
    /// one curl version.
    static func urlProblem(_ url: String) -> String? {
        url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
            ? "the URL contains a space or a control character (percent-encode it)" : nil
    }

    /// RFC 9110 tchar.
    static func isTokenChar(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// Bytes as a quoted, escaped, shortened text for a message.
    static func printable(_ bytes: some Collection<UInt8>) -> String {
        var s = "'"
        for b in bytes.prefix(40) {
            if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "'") && b != UInt8(ascii: "\\") {
                s.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                s += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return s + (bytes.count > 40 ? "…'" : "'")
    }
}
