import BulkheadProtocol
import Testing

@testable import BulkheadCore

@Suite struct PolicyReferencesTests {
    let config = ServerConfig(principals: [
        "alice": Principal(name: "alice", tenant: "acme", scopes: ["docs.read"]),
        "bob": Principal(name: "bob", tenant: "globex", scopes: []),
    ], defaultPrincipal: "alice")

    func access(_ toml: String) throws -> AccessPolicy {
        var problems: [String] = []
        let policy = AccessPolicy.parse(try TOMLDocument.parse(toml), tools: ["search"], problems: &problems)
        #expect(problems.isEmpty, "\(problems)")
        return policy
    }

    @Test func namesTheConfigurationDefinesAreFine() throws {
        let p = try access("""
            [[allow]]
            tools = ["*"]
            principals = ["alice", "*"]
            scopes = ["docs.read"]
            tenants = ["acme", "globex"]
            """)
        #expect(PolicyReferences.problems(p, config: config, configName: "bulkhead.toml").isEmpty)
    }

    @Test func everyUndefinedPrincipalScopeAndTenantIsReported() throws {
        let p = try access("""
            [[allow]]
            tools = ["search"]
            principals = ["carol"]
            scopes = ["docs.write"]
            [[preapprove]]
            tools = ["search"]
            principals = ["bob"]
            tenants = ["initech"]
            """)
        let problems = PolicyReferences.problems(p, config: config, configName: "bulkhead.toml")
        #expect(problems == [
            "policy: allow[0] names principal 'carol', which bulkhead.toml does not define (it defines alice, bob)",
            "policy: allow[0] names scope 'docs.write', which no principal in bulkhead.toml holds",
            "policy: preapprove[0] names tenant 'initech', which no principal in bulkhead.toml is in",
        ])
    }
}
