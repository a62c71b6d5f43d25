import BulkheadProtocol
import HTTPTypes
import Testing

@testable import BulkheadHTTP

@Suite("HTTP transport parts")
struct HTTPPartsTests {
    private func lookup(_ pairs: [String: String]) -> HeaderLookup {
        var fields = HTTPFields()
        for (k, v) in pairs { fields[HTTPField.Name(k)!] = v }
        return HeaderLookup(fields: fields)
    }

    @Test func headerValuesAreTrimmedAndBase64Decoded() {
        #expect(HeaderRules.value("  tools/call ") == "tools/call")
        #expect(HeaderRules.value("=?base64?w6ljaG8=?=") == "écho")
        #expect(HeaderRules.value("=?base64?!!!?=") == nil)
    }

    @Test func theHeaderRulesOfThe2026Wire() {
        let params: JSONObject = ["name": "a__b", "_meta": ["io.modelcontextprotocol/protocolVersion": "2026-07-28"]]
        let good = lookup(["Mcp-Method": "tools/call", "Mcp-Name": "a__b", "MCP-Protocol-Version": "2026-07-28"])
        #expect(HeaderRules.mismatch(method: "tools/call", params: params, headers: good) == nil)
        let cases: [[String: String]] = [
            ["Mcp-Name": "a__b", "MCP-Protocol-Version": "2026-07-28"],
            ["Mcp-Method": "tools/list", "Mcp-Name": "a__b"],
            ["Mcp-Method": "tools/call", "MCP-Protocol-Version": "2026-07-28"],
            ["Mcp-Method": "tools/call", "Mcp-Name": "A__B"],
            ["Mcp-Method": "tools/call", "Mcp-Name": "a__b", "MCP-Protocol-Version": "2025-11-25"],
        ]
        for c in cases {
            #expect(HeaderRules.mismatch(method: "tools/call", params: params, headers: lookup(c))?.code == -32020)
        }
    }

    @Test func originsAndHostsOfALoopbackListener() {
        let guardian = OriginGuard(settings: HTTPSettings())
        #expect(guardian.check(origin: nil, host: "127.0.0.1:8080") == .allowed)
        #expect(guardian.check(origin: "http://localhost:5173", host: "localhost") == .allowed)
        #expect(guardian.check(origin: "http://evil.example", host: "localhost") != .allowed)
        #expect(guardian.check(origin: "null", host: "localhost") != .allowed)
        #expect(guardian.check(origin: nil, host: "evil.example:8080") != .allowed)
        #expect(guardian.check(origin: nil, host: "127.0.0.1.evil.example") != .allowed)
        var s = HTTPSettings()
        s.publicURL = "https://mcp.example.com/mcp"
        s.allowedOrigins = ["https://app.example.com"]
        let proxied = OriginGuard(settings: s)
        #expect(proxied.check(origin: "https://app.example.com", host: "mcp.example.com") == .allowed)
        #expect(proxied.check(origin: "https://other.example.com", host: "mcp.example.com") != .allowed)
    }

    @Test func listenAddressesParse() {
        #expect(HTTPSettings.parseListen("127.0.0.1:8080")! == ("127.0.0.1", 8080))
        #expect(HTTPSettings.parseListen("[::1]:0")! == ("::1", 0))
        #expect(HTTPSettings.parseListen("::1:80") == nil)
        #expect(HTTPSettings.parseListen("host:99999") == nil)
        #expect(HTTPSettings.parseListen("nohost") == nil)
    }

    @Test func apiTokensAreLookedUpByTheirHashOnly() {
        let token = APITokens.mint()
        #expect(token.hasPrefix("bh_") && token.count == 46)
        #expect(APITokens.mint() != token)
        let caller = CallerIdentity(name: "alice", tenant: "acme", scopes: ["docs.read"])
        let table = APITokens([APITokens.digest(token).uppercased(): caller])
        #expect(table.caller(for: token) == caller)
        #expect(table.caller(for: token + "x") == nil)
        #expect(APITokens.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func bearerCredentials() {
        #expect((try? BearerCredentials.token(from: "Bearer abc.def").get()) == "abc.def")
        #expect((try? BearerCredentials.token(from: "bearer   abc").get()) == "abc")
        for bad in ["Basic abc", "Bearer", "Bearer a b", "Bearer ä", "abc"] {
            guard case .failure(let f) = BearerCredentials.token(from: bad) else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(f.reason == .malformed)
        }
        guard case .failure(let missing) = BearerCredentials.token(from: nil) else { return }
        #expect(missing.reason == .missing)
    }

    @Test func claimsAreCheckedEachWithItsOwnReason() {
        var settings = OAuthSettings(issuers: ["https://issuer.test/"])
        settings.tenantClaim = "org"
        var http = HTTPSettings()
        http.publicURL = "https://mcp.test/mcp"
        let verifier = JWTVerifier(settings: settings, resource: ResourceURL(http), log: { _ in })
        let now = 1_800_000_000.0
        let good: JSONObject = ["iss": "https://issuer.test/", "aud": ["x", "https://mcp.test/mcp"], "exp": .double(now + 60),
                                "sub": "u1", "org": "acme", "scope": "a b"]
        guard case .success(let caller) = verifier.checkClaims(good, now: now) else {
            Issue.record("good claims refused")
            return
        }
        #expect(caller == CallerIdentity(name: "u1", tenant: "acme", scopes: ["a", "b"]))
        func label(_ change: (inout JSONObject) -> Void) -> String? {
            var c = good
            change(&c)
            if case .failure(let f) = verifier.checkClaims(c, now: now) { return f.label }
            return nil
        }
        #expect(label { $0["iss"] = "https://evil.test/" } == "wrong_issuer")
        #expect(label { $0["aud"] = "https://other.test/mcp" } == "wrong_audience")
        #expect(label { $0["exp"] = nil } == "no_expiry")
        #expect(label { $0["exp"] = .double(now - 61) } == "expired")
        #expect(label { $0["exp"] = .double(now - 30) } == nil)  // within the leeway
        #expect(label { $0["nbf"] = .double(now + 120) } == "not_yet_valid")
        #expect(label { $0["iat"] = .double(now + 120) } == "issued_in_future")
        #expect(label { $0["sub"] = nil } == "no_principal")
        #expect(label { $0["org"] = nil } == "no_tenant")
        var scp = good
        scp["scope"] = nil
        scp["scp"] = ["x", "y"]
        if case .success(let c) = verifier.checkClaims(scp, now: now) { #expect(c.scopes == ["x", "y"]) }
    }

    @Test func metadataIsServedAtThePathInsertedURL() {
        var http = HTTPSettings()
        http.publicURL = "https://h.example/team/mcp"
        let m = ResourceMetadata(resourceURL: ResourceURL(http), authorizationServers: ["https://as/"], scopesSupported: [])
        #expect(m.url == "https://h.example/.well-known/oauth-protected-resource/team/mcp")
        #expect(m.paths == ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/team/mcp"])
    }

    @Test func theStatusOfAStatelessResponseFollowsItsErrorCode() {
        func status(_ code: Int) -> Int {
            Int(MCPEndpoint.status(ofResponse: JSONRPCOutput.error(id: .string(#","result":"#), JSONRPCErrorObject(code: code, message: "m"))).code)
        }
        #expect(status(-32601) == 404)
        #expect(status(-32020) == 400)
        #expect(status(-32022) == 400)
        #expect(status(-32603) == 200)
        #expect(MCPEndpoint.errorCode(JSONRPCOutput.result(id: .int(1), ["x": #","error":{"code":-1"#])) == nil)
    }
}
