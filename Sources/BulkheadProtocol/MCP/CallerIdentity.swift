/// Who a request comes from, when the transport proved it: over HTTP, the
/// principal a bearer token stands for (an API token's configured principal,
/// or the subject, tenant and scopes of an OAuth access token).
///
/// Over stdio there is none: the process serves the one principal its
/// operator named, which ``RequestContext/principal`` carries by name.
public struct CallerIdentity: Sendable, Hashable {
    public var name: String
    public var tenant: String
    public var scopes: [String]

    public init(name: String, tenant: String, scopes: [String] = []) {
        self.name = name
        self.tenant = tenant
        self.scopes = scopes
    }
}
