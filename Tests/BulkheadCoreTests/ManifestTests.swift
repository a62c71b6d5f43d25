import BulkheadProtocol
import Testing

@testable import BulkheadCore

@Suite struct ManifestTests {
    static let good = """
        # A comment an operator can read.
        name = "docs"
        version = "1.2.0"
        abi = "1.1"
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
        #expect(m.abi == ABIVersion(major: 1, minor: 1))
        #expect(m.tools.map(\.name) == ["search", "fetch"])
        #expect(m.tools[0].access == .read)
        #expect(m.tools[0].inputSchema["required"] == .array(["query"]))
        #expect(m.tools[0].inputSchema["properties"]?["query"]?["minLength"] == .int(1))
        #expect(m.tools[1].inputSchema["properties"]?["path"]?["type"] == "string")
    }

    @Test func resourcesTemplatesAndPromptsAreRead() throws {
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.good + """

            [[resources]]
            uri = "docs://index"
            name = "index"
            mime_type = "text/markdown"
            size = 120

            [[resource_templates]]
            uri_template = "docs://{tenant}/{slug}{?rev}"
            name = "document"
            [resource_templates.variables.slug]
            pattern = "^[a-z0-9-]{1,64}$"
            [resource_templates.variables.tenant]
            enum = ["acme", "globex"]

            [[prompts]]
            name = "summary"
            [[prompts.arguments]]
            name = "topic"
            required = true
            """))
        #expect(m.tools.map(\.name) == ["search", "fetch"])
        #expect(m.resources.map(\.uri) == ["docs://index"])
        #expect(m.resources[0].size == 120)
        let t = try #require(m.resourceTemplates.first)
        #expect(t.inputSchema["required"] == .array(["tenant", "slug"]))
        #expect(t.inputSchema["properties"]?["slug"]?["pattern"] == "^[a-z0-9-]{1,64}$")
        #expect(t.validator.validate(.object(["tenant": "acme", "slug": "faq"]), limit: 3).isEmpty)
        #expect(!t.validator.validate(.object(["tenant": "initech", "slug": "faq"]), limit: 3).isEmpty)
        #expect(!t.validator.validate(.object(["tenant": "acme", "slug": "../x"]), limit: 3).isEmpty)
        #expect(m.prompts.map(\.name) == ["summary"])
        #expect(m.prompts[0].arguments.map(\.required) == [true])
    }

    @Test func resourcesMustUseThePluginsSchemeAndValidTemplates() throws {
        func problems(_ extra: String) -> [String] {
            do {
                _ = try PluginManifest.parse(TOMLDocument.parse(Self.good + "\n" + extra))
                return []
            } catch let e as LoadProblems {
                return e.problems
            } catch {
                return ["\(error)"]
            }
        }
        #expect(problems("[[resources]]\nuri = \"file:///etc/passwd\"\nname = \"x\"").contains { $0.contains("own scheme 'docs:'") })
        #expect(problems("[[resources]]\nuri = \"docs+https://example.com/a\"\nname = \"x\"").isEmpty)
        #expect(problems("[[resource_templates]]\nuri_template = \"docs://{/path}\"\nname = \"x\"").contains { $0.contains("resource template") })
        #expect(problems("[[resource_templates]]\nuri_template = \"docs://{a}\"\nname = \"x\"\n[resource_templates.variables.a]\npattern = \"[a-z]+\"").contains { $0.contains("anchored") })
        #expect(problems("[[resource_templates]]\nuri_template = \"docs://{a}\"\nname = \"x\"\n[resource_templates.variables.b]\nenum = [\"q\"]").contains { $0.contains("no variable 'b'") })
        #expect(problems("[[prompts]]\nname = \"bad name\"").contains { $0.contains("prompt 'bad name'") })
        #expect(PluginManifest.scheme(ofPlugin: "my_plugin") == "my.plugin")
        #expect(PluginManifest.pluginScheme(ofURI: "DOCS+https://x") == "docs")
        #expect(PluginManifest.pluginScheme(ofURI: "no scheme") == nil)
    }

    @Test func policyRulesNameResourcesAndPrompts() throws {
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.good + """

            [[resources]]
            uri = "docs://index"
            name = "index"
            [[resource_templates]]
            uri_template = "docs://{tenant}/{slug}"
            name = "document"
            [[prompts]]
            name = "summary"
            """))
        let dir = try TempDir()
        _ = dir.write("policy.toml", """
            [[allow]]
            tools = ["search"]
            resources = ["docs://{tenant}/{slug}"]
            principals = ["alice"]
            [[allow]]
            prompts = ["*"]
            scopes = ["docs.read"]
            """)
        let access = try PluginPolicy.load(folder: dir.path, manifest: m).access
        let alice = Principal(name: "alice", tenant: "acme", scopes: [])
        let reader = Principal(name: "eve", tenant: "acme", scopes: ["docs.read"])
        #expect(access.allows(alice, .resource, "docs://{tenant}/{slug}"))
        #expect(!access.allows(alice, .resource, "docs://index"))
        #expect(!access.allows(alice, .prompt, "summary"))
        #expect(access.allows(reader, .prompt, "summary") && !access.allows(reader, tool: "search"))
        #expect(access.ruleIndex(reader, .prompt, "summary") == 1)
        #expect(access.allowsAny(alice, .resource) && !access.allowsAny(reader, .resource))

        for (policy, message) in [
            ("[[allow]]\nresources = [\"docs://nope\"]\nprincipals = [\"*\"]\n", "names resource 'docs://nope'"),
            ("[[allow]]\nprompts = [\"nope\"]\nprincipals = [\"*\"]\n", "names prompt 'nope'"),
            ("[[allow]]\nprincipals = [\"*\"]\n", "needs tools = "),
            ("[[preapprove]]\nresources = [\"*\"]\nprincipals = [\"*\"]\n", "unknown key 'resources'"),
        ] {
            expectRefused(policy, naming: message, manifest: m, in: dir)
        }
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
        // '__' joins plugin and tool in served names: a plugin name may not hold it nor end in '_'.
        #expect(!Naming.isPluginName("my__tools"))
        #expect(!Naming.isPluginName("tools_"))
        #expect(Naming.isPluginName("my_tools"))
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

        // No [principals] at all: the built-in one, as without a file.
        let bare = try ServerConfig.load(path: dir.write("bare.toml", "[audit]\npath = \"a.jsonl\"\n"))
        #expect(bare.defaultPrincipal == "local")
        #expect(bare.principals["local"] == .local)
        // A default naming nobody is still a mistake, tables or not.
        #expect(throws: LoadProblems.self) { try ServerConfig.load(path: dir.write("nobody.toml", "default_principal = \"x\"\n")) }
    }

    static let requesting = good + """

        [[capabilities]]
        name = "corpus"
        kind = "files"
        access = "read-write"
        required = true
        reason = "Reads the documents."

        [[capabilities]]
        name = "key"
        kind = "secret"
        reason = "An API key."

        [[capabilities]]
        name = "api"
        kind = "http"
        reason = "Asks the API."

        [[capabilities]]
        name = "core_status"
        kind = "core_status"
        reason = "Shows the core's state."
        """

    @Test func capabilityRequestsAreRead() throws {
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.requesting))
        #expect(m.capabilities.map(\.name) == ["corpus", "key", "api", "core_status"])
        #expect(m.capabilities[0].kind == .files && m.capabilities[0].access == .readWrite && m.capabilities[0].required)
        #expect(m.capabilities[1].kind == .secret && !m.capabilities[1].required)
    }

    @Test(arguments: [
        ("name = \"x\"\nkind = \"files\"", "'reason' is missing"),
        ("name = \"x\"\nkind = \"sockets\"\nreason = \"r\"", "kind must be one of"),
        ("name = \"x\"\nkind = \"secret\"\naccess = \"read\"\nreason = \"r\"", "access applies to files capabilities only"),
        ("name = \"x\"\nkind = \"files\"\naccess = \"write\"\nreason = \"r\"", "access must be \"read\" or \"read-write\""),
        ("name = \"a b\"\nkind = \"files\"\nreason = \"r\"", "name must be"),
    ])
    func badCapabilityRequests(entry: String, message: String) throws {
        let text = Self.good + "\n[[capabilities]]\n" + entry + "\n"
        #expect(throws: LoadProblems.self) { try PluginManifest.parse(TOMLDocument.parse(text)) }
        do {
            _ = try PluginManifest.parse(TOMLDocument.parse(text))
        } catch let e as LoadProblems {
            #expect(e.problems.contains { $0.contains(message) }, "\(e.problems)")
        }
    }

    @Test func policyConfigAndGrants() throws {
        let dir = try TempDir()
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.requesting))
        _ = dir.write("policy.toml", """
            [config]
            data_dir = "data"
            [grants]
            core_status = true
            [grants.corpus]
            path = "docs"
            access = "read"
            [grants.key]
            env = "SOME_KEY"
            [grants.api]
            origins = ["https://API.example.com", "http://127.0.0.1:8080/"]
            timeout_ms = 500
            """)
        let p = try PluginPolicy.load(folder: dir.path, manifest: m)
        #expect(p.config["data_dir"] == "data")
        guard case .files(let path, let access, let allowHardLinks)? = p.grants["corpus"] else { Issue.record("no files grant"); return }
        #expect(path == dir.path + "/docs" && access == .read && !allowHardLinks)
        guard case .secret(.environment("SOME_KEY"))? = p.grants["key"] else { Issue.record("no secret grant"); return }
        guard case .http(let g)? = p.grants["api"] else { Issue.record("no http grant"); return }
        #expect(g.origins == [HTTPOrigin(scheme: "https", host: "api.example.com", port: 443),
                              HTTPOrigin(scheme: "http", host: "127.0.0.1", port: 8080)])
        #expect(g.timeoutMilliseconds == 500 && g.maxResponseBytes == CapabilityGrant.HTTPGrant.defaultMaxResponseBytes)
        guard case .coreStatus? = p.grants["core_status"] else { Issue.record("no core_status grant"); return }
    }

    @Test(arguments: [
        ("[grants]\nroot = true\n", "grants.root names a capability the manifest does not request"),
        ("[grants.corpus]\naccess = \"read\"\n", "path = \"…\" is required"),
        ("[grants.corpus]\npath = \"x\"\nmode = \"rw\"\n", "unknown setting 'mode'"),
        ("[grants.key]\nenv = \"A\"\nfile = \"/b\"\n", "exactly one of env"),
        ("[grants.api]\norigins = [\"ftp://x\"]\n", "not an http:// or https:// origin"),
        ("[grants.api]\norigins = [\"https://x/path\"]\n", "an origin has no path"),
        ("[grants.api]\norigins = [\"https://x\"]\ntimeout_ms = 0\n", "timeout_ms must be a positive integer"),
        ("[grants]\nkey = true\n", "needs a table of settings"),
    ])
    func badGrants(policy: String, message: String) throws {
        let dir = try TempDir()
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.requesting))
        expectRefused(policy, naming: message, manifest: m, in: dir)
    }

    /// Writes `policy` as the folder's policy.toml and expects it refused with a problem naming `message`.
    private func expectRefused(_ policy: String, naming message: String, manifest m: PluginManifest, in dir: TempDir) {
        _ = dir.write("policy.toml", policy)
        do {
            _ = try PluginPolicy.load(folder: dir.path, manifest: m)
            Issue.record("accepted: \(policy)")
        } catch {
            #expect(error.problems.contains { $0.contains(message) }, "\(error.problems)")
        }
    }

    @Test func effectiveCapabilitiesAreTheIntersection() throws {
        let dir = try TempDir()
        _ = dir.mkdir("docs")
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.requesting))
        _ = dir.write("policy.toml", "[grants.corpus]\npath = \"docs\"\naccess = \"read-write\"\n[grants.key]\nenv = \"BULKHEAD_TEST_UNSET_VARIABLE\"\n")
        let p = try PluginPolicy.load(folder: dir.path, manifest: m)
        var minted: UInt64 = 0
        let (set, problems) = CapabilitySet.resolve(requests: m.capabilities, grants: p.grants, mint: { minted += 1; return minted })
        #expect(problems.isEmpty, "\(problems)")
        #expect(Set(set.byName.keys) == ["corpus"])  // key: the variable is not set; api, core_status: not granted
        guard case .files(let root)? = set.byName["corpus"]?.body else { Issue.record("no root"); return }
        #expect(root.access == .readWrite)
        #expect(set.rows.first { $0.name == "key" }?.effective.contains("is not set") == true)
        #expect(set.rows.first { $0.name == "api" }?.granted == "no")
    }

    @Test func aRequiredCapabilityNotGrantedIsAProblem() throws {
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.requesting))
        let (set, problems) = CapabilitySet.resolve(requests: m.capabilities, grants: [:], mint: { 1 })
        #expect(set.byName.isEmpty)
        #expect(problems == ["capability 'corpus' (files) is required but not granted: add [grants.corpus] to policy.toml"])
    }

    @Test func secretsAreScrubbed() throws {
        let dir = try TempDir()
        let file = dir.write("secret", "hunter2-long\n")
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.requesting))
        let (set, _) = CapabilitySet.resolve(requests: m.capabilities, grants: ["key": .secret(.file(file))], mint: { 7 })
        #expect(set.scrub("token=hunter2-long; again hunter2-long") == "token=[redacted]; again [redacted]")
        #expect(set.scrub("nothing here") == "nothing here")
    }
}
