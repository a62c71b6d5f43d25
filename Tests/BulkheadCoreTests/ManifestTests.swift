import BulkheadProtocol
import Testing

@testable import BulkheadCore

@Suite struct ManifestTests {
    static let good = """
        # A comment an operator can read.
        name = "docs"
        version = "1.2.0"
        abi = "1.0"
        library = "libdocs.so"
        description = "Read-only docs."

        [[tools]]
        name = "search"
        title = "Search"
        description = "Find documents."
        access = "read"
        [tools.input_schema]
        type = "object"
        required = ["query"]
        [tools.input_schema.properties.query]
        type = "string"
        minLength = 1

        [[tools]]
        name = "fetch"
        description = "One document."
        access = "read"
        input_schema = '{"type": "object", "properties": {"path": {"type": "string"}}}'
        """

    @Test func parsesTablesAndJSONStringsAsSchemas() throws {
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.good))
        #expect(m.name == "docs")
        #expect(m.abi == ABIVersion(major: 1, minor: 0))
        #expect(m.tools.map(\.name) == ["search", "fetch"])
        #expect(m.tools[0].access == .read)
        #expect(m.tools[0].inputSchema["required"] == .array(["query"]))
        #expect(m.tools[0].inputSchema["properties"]?["query"]?["minLength"] == .int(1))
        #expect(m.tools[1].inputSchema["properties"]?["path"]?["type"] == "string")
    }

    @Test func reportsEveryProblemAtOnce() throws {
        let doc = try TOMLDocument.parse("""
            name = "Bad Name"
            abi = "one"
            library = "../evil.so"
            [[tools]]
            name = "x"
            access = "delete"
            input_schema = { type = "string" }
            [[tools]]
            name = "x"
            description = "twice"
            input_schema = { type = "object" }
            """)
        do {
            _ = try PluginManifest.parse(doc)
            Issue.record("expected problems")
        } catch {
            let all = error.problems.joined(separator: "\n")
            #expect(all.contains("name 'Bad Name'"))
            #expect(all.contains("'version' is missing"))
            #expect(all.contains("abi 'one'"))
            #expect(all.contains("library '../evil.so'"))
            #expect(all.contains("access must be"))
            #expect(all.contains("input_schema must be a JSON Schema object"))
            #expect(all.contains("declared twice"))
            #expect(all.contains("'description' is missing"))
        }
    }

    @Test func tomlSyntaxErrorsNameTheLine() {
        do {
            _ = try TOMLDocument.parse("name = \"a\"\nversion = \n")
            Issue.record("expected a syntax error")
        } catch {
            #expect(error.description.contains("line 2"))
        }
    }

    @Test func abiRule() {
        let core = ABIVersion(major: 1, minor: 3)
        #expect(ABIVersion(major: 1, minor: 0).incompatibility(with: core) == nil)
        #expect(ABIVersion(major: 1, minor: 3).incompatibility(with: core) == nil)
        #expect(ABIVersion(major: 1, minor: 4).incompatibility(with: core)?.contains("1.4") == true)
        let major = ABIVersion(major: 2, minor: 0).incompatibility(with: core)
        #expect(major?.contains("2.0") == true && major?.contains("1.3") == true)
        #expect(ABIVersion("1.0") == ABIVersion(major: 1, minor: 0))
        #expect(ABIVersion("1") == nil)
        #expect(ABIVersion("1.x") == nil)
    }

    @Test func namesMakeValidMCPToolNames() {
        #expect(Naming.isPluginName("docs"))
        #expect(Naming.isPluginName("ticket-system_2"))
        #expect(!Naming.isPluginName("Docs"))
        #expect(!Naming.isPluginName("2docs"))
        #expect(!Naming.isPluginName("a.b"))
        #expect(Naming.isToolName("getTicket_v2"))
        #expect(!Naming.isToolName("a.b"))
        #expect(!Naming.isToolName(""))
    }

    @Test func serverConfigPrincipals() throws {
        let dir = try TempDir()
        let path = dir.write("bulkhead.toml", """
            default_principal = "alice"
            [principals.alice]
            tenant = "acme"
            scopes = ["docs.read"]
            [principals.bob]
            tenant = "globex"
            """)
        let config = try ServerConfig.load(path: path)
        #expect(config.defaultPrincipal == "alice")
        #expect(config.principals["alice"] == Principal(name: "alice", tenant: "acme", scopes: ["docs.read"]))
        #expect(config.principals["bob"]?.tenant == "globex")

        let bad = dir.write("bad.toml", "default_principal = \"carol\"\n[principals.alice]\nscopes = [\"x\"]\n")
        #expect(throws: LoadProblems.self) { try ServerConfig.load(path: bad) }
    }

    @Test func policyConfigAndGrants() throws {
        let dir = try TempDir()
        _ = dir.write("policy.toml", "[config]\ndata_dir = \"data\"\n[grants]\ncore_status = true\n")
        let p = try PluginPolicy.load(folder: dir.path)
        #expect(p.config["data_dir"] == "data")
        #expect(p.grantsCoreStatus)
        _ = dir.write("policy.toml", "[grants]\nroot = true\n")
        #expect(throws: LoadProblems.self) { try PluginPolicy.load(folder: dir.path) }
    }
}
