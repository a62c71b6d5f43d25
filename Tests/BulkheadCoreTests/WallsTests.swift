#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Testing
import TOMLKit

@testable import BulkheadCore

/// What a plugin may put in an outbound request's method and headers.
@Suite struct HTTPRequestRulesTests {
    private func headers(_ text: String) -> Result<String, HTTPRequestRules.Refusal> {
        HTTPRequestRules.headers(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    private func isMalformed(_ r: Result<String, HTTPRequestRules.Refusal>) -> Bool {
        if case .failure(.malformed) = r { true } else { false }
    }

    private func isReserved(_ r: Result<String, HTTPRequestRules.Refusal>) -> Bool {
        if case .failure(.reserved) = r { true } else { false }
    }

    @Test(arguments: ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND", "M-SEARCH", "get", "X_1!"])
    func tokenMethodsAreSentAsGiven(method: String) {
        #expect(HTTPRequestRules.method(Array(method.utf8)) == .success(method))
    }

    @Test func anEmptyMethodIsGET() {
        #expect(HTTPRequestRules.method([UInt8]()) == .success("GET"))
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: evil\r\n\r\nGET", "GET http://evil/", "GET ", " GET", "G ET", "GET\t",
        "GET\0", "GET\n", "GÉT", "(GET)", "GET/", "GET@", "GET:", String(repeating: "A", count: 65),
    ])
    func nonTokenMethodsAreMalformed(method: String) {
        guard case .failure(.malformed(let why)) = HTTPRequestRules.method(Array(method.utf8)) else {
            Issue.record("accepted \(method.debugDescription)"); return
        }
        #expect(why.contains("not an HTTP token"))
        #expect(!why.contains("\r") && !why.contains("\n"), "the message escapes what it quotes: \(why)")
    }

    @Test func connectIsReserved() {
        guard case .failure(.reserved) = HTTPRequestRules.method(Array("CONNECT".utf8)) else {
            Issue.record("CONNECT accepted"); return
        }
    }

    @Test func headBodiesAreMalformed() {
        guard case .failure(.malformed(let why)) = HTTPRequestRules.check(method: Array("HEAD".utf8), headers: [UInt8](), bodyLength: 1) else {
            Issue.record("accepted"); return
        }
        #expect(why.contains("HEAD"))
        #expect(throws: Never.self) { try HTTPRequestRules.check(method: Array("GET".utf8), headers: [UInt8](), bodyLength: 3).get() }
    }

    @Test func wellFormedHeadersAreNormalised() {
        #expect(headers("Accept: text/plain\nX-Fixture: hostile") == .success("Accept: text/plain\nX-Fixture: hostile\n"))
        #expect(headers("A: 1\r\nB:2\r\n\r\n") == .success("A: 1\nB: 2\n"))
        #expect(headers("X-Spaced: \t  a  b \t") == .success("X-Spaced: a  b\n"))
        #expect(headers("X-Tab: a\tb") == .success("X-Tab: a\tb\n"))
        #expect(headers("Authorization: Bearer x:y") == .success("Authorization: Bearer x:y\n"))
        #expect(headers("X-Utf8: caf\u{e9}") == .success("X-Utf8: caf\u{e9}\n"))
        #expect(headers("") == .success(""))
        #expect(headers("\n\r\n") == .success(""))
    }

    @Test(arguments: [
        "Host: evil.example", "host: evil", "HOST: evil", "Content-Length: 0", "content-length: 5",
        "Transfer-Encoding: chunked", "Connection: close", "Keep-Alive: 5", "TE: trailers", "Trailer: X",
        "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA", "Expect: 100-continue",
        "Proxy-Authorization: Basic eA==", "Proxy-Connection: keep-alive", "proxy-anything: x",
        "X-Ok: 1\nHost: evil", "X-Ok: 1\r\nContent-Length: 1",
    ])
    func headersTheCoreSetsAreReserved(text: String) {
        let r = headers(text)
        #expect(isReserved(r), "\(text.debugDescription): \(r)")
        if case .failure(.reserved(let why)) = r { #expect(why.contains("set by the core")) }
    }

    @Test(arguments: [
        "X-A: b\rHost: evil", "X-A: b\0c", "X-A: b\u{1}", "X-A: \u{7f}", "X-A: b\u{1b}[0m", "X-A: b\u{0b}",
        "X A: b", "Host : evil", " Host: evil", "\tX: y", ": value", ":authority: evil", "X-Empty:", "X-Empty:   ",
        "User-Agent:", "Accept:", "X-Semi;", "@/etc/passwd", "H\u{e9}: x", "no colon at all",
        "X-A: b\r\n\r\nGET /smuggled HTTP/1.1", "X-A: b\nX-B: ok\n X-Folded: c", "X(A): b", "X/A: b",
    ])
    func malformedHeadersAreRefused(text: String) {
        #expect(isMalformed(headers(text)), "\(text.debugDescription): \(headers(text))")
    }

    @Test func refusalsNeverQuoteAValue() {
        for text in ["Authorization: Bearer sekrit\u{1}", "X-Token:", "Bearer sekrit"] {
            if case .failure(.malformed(let why)) = headers(text) {
                #expect(!why.contains("sekrit"), "\(why)")
            } else {
                Issue.record("accepted \(text.debugDescription)")
            }
        }
    }

    @Test func urlsWithSpacesOrControlsAreRefused() {
        #expect(HTTPRequestRules.urlProblem("http://127.0.0.1:8080/a?b=c#d") == nil)
        for url in ["http://h/x HTTP/1.1", "http://h/x\r\nHost: evil", "http://h/\t", "http://h/\u{7f}", "http://h/\0"] {
            #expect(HTTPRequestRules.urlProblem(url) != nil, "\(url.debugDescription)")
        }
    }
}

/// Hard links planted inside a root, and the grant setting that allows them.
@Suite struct HardLinkTests {
    private func root(_ dir: TempDir, allow: Bool, access: FileAccess = .readWrite) throws -> FileRoot {
        _ = dir.mkdir("root")
        _ = dir.mkdir("outside")
        dir.write("outside/private.txt", "private")
        dir.write("root/plain.txt", "plain")
        #expect(link(dir.path + "/outside/private.txt", dir.path + "/root/hard.txt") == 0)
        return try FileRoot.open(path: dir.path + "/root", access: access, allowHardLinks: allow).get()
    }

    private func contents(_ path: String) -> String {
        FileIO.readText(path, limit: 1 << 16) ?? "<unreadable>"
    }

    private func isHardLinkRefusal<T>(_ r: Result<T, FileRoot.Failure>) -> Bool {
        if case .failure(.notAllowed(let why)) = r { return why.contains("hard link") }
        return false
    }

    @Test func aHardLinkIsNotOpenedNorDescribed() throws {
        let dir = try TempDir()
        let r = try root(dir, allow: false)
        #expect(isHardLinkRefusal(r.open("hard.txt", flags: UInt32(BH_FILE_READ))))
        #expect(isHardLinkRefusal(r.info("hard.txt")))
        // Refused before anything changed: O_TRUNC would have emptied the file outside.
        #expect(isHardLinkRefusal(r.open("hard.txt", flags: UInt32(BH_FILE_WRITE | BH_FILE_TRUNCATE))))
        #expect(isHardLinkRefusal(r.open("hard.txt", flags: UInt32(BH_FILE_READ | BH_FILE_TRUNCATE))))
        #expect(isHardLinkRefusal(r.open("hard.txt", flags: UInt32(BH_FILE_WRITE | BH_FILE_CREATE | BH_FILE_APPEND))))
        #expect(contents(dir.path + "/outside/private.txt") == "private")

        var seen: [String: (Int, Int)] = [:]
        _ = r.list("") { name, st in
            seen[name] = (Int(st.st_size), Int(st.st_mtim.tv_sec))
            return true
        }
        #expect(seen["hard.txt"].map { $0 == (0, 0) } == true, "\(seen)")
        #expect(seen["plain.txt"].map { $0.0 == 5 && $0.1 > 0 } == true, "\(seen)")

        // A file with one link opens; READ|TRUNCATE empties it, as before.
        guard case .success(let fd) = r.open("plain.txt", flags: UInt32(BH_FILE_READ)) else { Issue.record("plain refused"); return }
        close(fd)
        guard case .success(let fd2) = r.open("plain.txt", flags: UInt32(BH_FILE_READ | BH_FILE_TRUNCATE)) else { Issue.record("truncate refused"); return }
        close(fd2)
        #expect(contents(dir.path + "/root/plain.txt") == "")
        // Names are names: removing the link leaves the file outside.
        #expect(throws: Never.self) { try r.remove("hard.txt").get() }
        #expect(contents(dir.path + "/outside/private.txt") == "private")
    }

    @Test func theGrantCanAllowHardLinks() throws {
        let dir = try TempDir()
        let r = try root(dir, allow: true)
        guard case .success(let fd) = r.open("hard.txt", flags: UInt32(BH_FILE_READ)) else { Issue.record("refused"); return }
        var buf = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &buf, buf.count)
        close(fd)
        #expect(String(decoding: buf.prefix(max(0, n)), as: UTF8.self) == "private")
        guard case .success(let st) = r.info("hard.txt") else { Issue.record("stat refused"); return }
        #expect(st.st_size == 7 && st.st_nlink == 2)
    }

    @Test func allowHardLinksIsAGrantSetting() throws {
        let dir = try TempDir()
        let m = try PluginManifest.parse(TOMLDocument.parse(ManifestTests.requesting))
        dir.write("policy.toml", "[grants.corpus]\npath = \"docs\"\nallow_hard_links = true\n")
        let p = try PluginPolicy.load(folder: dir.path, manifest: m)
        guard case .files(_, _, let allow)? = p.grants["corpus"] else { Issue.record("no files grant"); return }
        #expect(allow)
        dir.write("policy.toml", "[grants.corpus]\npath = \"docs\"\nallow_hard_links = \"yes\"\n")
        do {
            _ = try PluginPolicy.load(folder: dir.path, manifest: m)
            Issue.record("a string accepted for allow_hard_links")
        } catch {
            #expect(error.problems.contains { $0.contains("allow_hard_links must be true or false") }, "\(error.problems)")
        }
    }
}
