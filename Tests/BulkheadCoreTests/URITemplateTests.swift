import Testing
@testable import BulkheadCore

@Suite struct URITemplateTests {
    func t(_ s: String) throws -> URITemplate { try URITemplate(s) }

    @Test func simpleVariablesMatchOneSegmentDecoded() throws {
        let tpl = try t("docs://{tenant}/doc/{slug}")
        #expect(tpl.variables == ["tenant", "slug"])
        #expect(tpl.match("docs://acme/doc/deploy-guide") == ["tenant": "acme", "slug": "deploy-guide"])
        #expect(tpl.match("docs://acme/doc/caf%C3%A9") == ["tenant": "acme", "slug": "café"])
        // A raw '/' is not part of a simple value; an escaped one arrives decoded, for the pattern check to judge.
        #expect(tpl.match("docs://acme/doc/a/b") == nil)
        #expect(tpl.match("docs://acme/doc/..%2F..%2Fetc") == ["tenant": "acme", "slug": "../../etc"])
        #expect(tpl.match("docs://acme/doc/") == nil, "a variable matches one character at least")
        #expect(tpl.match("docs://acme/doc/x?y=1") == nil)
        #expect(tpl.match("DOCS://acme/doc/x") == nil, "literals match exactly, case included")
    }

    @Test func reservedExpansionSpansSlashes() throws {
        let tpl = try t("files://root/{+path}")
        #expect(tpl.match("files://root/a/b/c.md") == ["path": "a/b/c.md"])
        #expect(tpl.match("files://root/a?b") == nil)
    }

    @Test func queryVariablesAreOptionalAndOrderFree() throws {
        let tpl = try t("tickets://list{?status,limit}{&q}")
        #expect(tpl.variables == ["status", "limit", "q"])
        #expect(tpl.match("tickets://list") == [:])
        #expect(tpl.match("tickets://list?limit=5&status=open") == ["limit": "5", "status": "open"])
        #expect(tpl.match("tickets://list?q=a%20b&status=open") == ["q": "a b", "status": "open"])
        #expect(tpl.match("tickets://list?other=1") == nil, "an unknown parameter does not match")
        #expect(tpl.match("tickets://list?status=a&status=b") == nil, "nor a parameter given twice")
        #expect(tpl.match("tickets://list?status") == nil)
        #expect(tpl.expand(["status": "open", "q": "a b"]) == "tickets://list?status=open&q=a%20b")
    }

    @Test func fragment() throws {
        let tpl = try t("docs://{slug}{#section}")
        #expect(tpl.match("docs://guide#setup") == ["slug": "guide", "section": "setup"])
        #expect(tpl.match("docs://guide") == ["slug": "guide"])
    }

    @Test func fixedTemplatesMatchOnlyThemselves() throws {
        let tpl = try t("docs://index")
        #expect(tpl.isFixed)
        #expect(tpl.match("docs://index") == [:])
        #expect(tpl.match("docs://index2") == nil)
    }

    @Test func controlCharactersAndBadEscapesNeverMatch() throws {
        let tpl = try t("x://{a}")
        #expect(tpl.match("x://%00") == nil)
        #expect(tpl.match("x://%0A") == nil)
        #expect(tpl.match("x://%FF") == nil, "not UTF-8")
        #expect(tpl.match("x://%4") == nil)
        #expect(tpl.match("x://a b") == nil)
    }

    @Test func expansionRoundTrips() throws {
        let tpl = try t("docs://{tenant}/{+path}{?v}")
        let values = ["tenant": "ac me", "path": "a/b c", "v": "1&2"]
        let uri = tpl.expand(values)
        #expect(uri == "docs://ac%20me/a/b%20c?v=1%262")
        #expect(tpl.match(uri) == values)
    }

    @Test func refusesWhatCannotBeMatched() {
        let refused: [(String, String)] = [
            ("x://{.a}", "level 3"), ("x://{/a}", "level 3"), ("x://{;a}", "level 3"),
            ("x://{=a}", "reserved"), ("x://{a:3}", "level 4"), ("x://{a*}", "level 4"),
            ("x://{a,b}", "one variable"), ("x://{a}{b}", "side by side"), ("x://{a}/{a}", "twice"),
            ("x://{a", "never closed"), ("x://a}", "without"), ("x://{}", "empty"),
            ("x://a{?b}{?c}", "{&"), ("x://a{?b}/c", "follow"), ("x://{&b}", "{?"),
            ("x://{#f}/x", "follow"), ("x://a b", "URI character"), ("x://%zz", "hex"),
            ("x://a?b=1{&c}", "{?"), ("x://a?b{?c}", "literal '?'"), ("x://a#b", "fragment"), ("", "empty"),
            ("x://{a-b}", "variable name"),
        ]
        for (text, words) in refused {
            do {
                _ = try URITemplate(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.message.contains(words), "\(text): \(error.message)")
            }
        }
    }
}
