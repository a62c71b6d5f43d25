/// `[oauth]` in bulkhead.toml: Bulkhead as an OAuth 2.1 resource server that
/// accepts JWT access tokens from the issuers named here.
public struct OAuthSettings: Sendable {
    /// Accepted `iss` values, compared exactly. At least one.
    public var issuers: [String]
    /// Accepted `aud` values (RFC 8707: this resource). Empty: the endpoint's
    /// resource URL. Several, because issuers disagree on what they put there.
    public var audiences: [String] = []
    /// Where the issuer's signing keys are: a JWKS file, or a URL fetched and cached.
    public var jwksFile: String?
    public var jwksURL: String?
    /// Authorization servers announced in the protected-resource metadata; empty: the issuers.
    public var authorizationServers: [String] = []
    /// Scopes announced in the metadata.
    public var scopesSupported: [String] = []
    /// The claim that names the principal.
    public var principalClaim = "sub"
    /// The claim that names the tenant; nil: every token's tenant is `defaultTenant`.
    public var tenantClaim: String?
    public var defaultTenant = "default"
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    public var leewaySeconds = 60
    /// A URL's keys are fetched again after this long, when a token arrives.
    public var jwksCacheSeconds = 3600
    /// Unknown `kid`s trigger a fetch at most this often.
    public var jwksRefreshMinimumSeconds = 30
    /// Required `typ` header (e.g. `at+jwt`, RFC 9068); nil accepts any.
    public var requiredType: String?

    public init(issuers: [String]) {
        self.issuers = issuers
    }

    /// The only algorithms accepted: asymmetric ones. `none` and HMAC never are,
    /// so a token "signed" with the public key as an HMAC secret is refused unread.
    public static let algorithms: Set<String> = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]
}
