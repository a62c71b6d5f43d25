import BulkheadProtocol
import Foundation
import JWTKit

/// Verifies OAuth JWT access tokens and maps their claims to a principal.
///
/// The checks, in order, each refusing with its own reason:
/// 1. three base64url segments; a JSON header with an asymmetric `alg`
///    (``OAuthSettings/algorithms``: never `none`, never HMAC) and a `kid`;
/// 2. the `kid` among the issuer's keys (an unknown one fetches the keys again,
///    rate-limited);
/// 3. the signature, by jwt-kit, with that key (a failure with a known `kid`
///    also fetches again once, for an issuer that rotated a key in place);
/// 4. `iss` among the configured issuers, `aud` (string or list) sharing a
///    value with the configured audiences, `exp` present and not past, `nbf`
///    and `iat` not in the future, each with the configured leeway;
/// 5. the principal claim present; scopes from `scope` (space-separated) or
///    `scp` (list or string).
public final class JWTVerifier: Sendable {
    let settings: OAuthSettings
    let configuredAudiences: Set<String>
    let resource: ResourceURL
    let keys: JWKSKeys

    public init(settings: OAuthSettings, resource: ResourceURL, log: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.configuredAudiences = Set(settings.audiences)
        self.resource = resource
        let source: JWKSKeys.Source = settings.jwksFile.map { .file($0) } ?? .url(settings.jwksURL ?? "")
        self.keys = JWKSKeys(source: source, minimumRefreshSeconds: settings.jwksRefreshMinimumSeconds,
                             cacheSeconds: settings.jwksCacheSeconds, log: log)
    }

    /// Loads the signing keys; throws with a line for the operator.
    public func start() async throws {
        try await keys.loadInitial()
    }

    static func looksLikeJWT(_ token: String) -> Bool {
        token.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: ".") ? 1 : 0) } == 2
    }

    private static func fail(_ label: String, _ description: String) -> Result<CallerIdentity, AuthFailure> {
        .failure(AuthFailure(.invalid, label: label, description))
    }

    func verify(_ token: String) async -> Result<CallerIdentity, AuthFailure> {
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count == 3, let header = Self.jsonSegment(segments[0]), let claims = Self.jsonSegment(segments[1])
        else { return Self.fail("malformed_jwt", "the token is not a well-formed JWT") }
        guard let alg = header["alg"]?.stringValue, OAuthSettings.algorithms.contains(alg) else {
            return Self.fail("bad_algorithm", "the token's alg is not an accepted asymmetric algorithm")
        }
        guard let kid = header["kid"]?.stringValue, !kid.isEmpty else {
            return Self.fail("no_kid", "the token's header names no kid")
        }
        if let required = settings.requiredType {
            guard let typ = header["typ"]?.stringValue, typ.lowercased() == required.lowercased() else {
                return Self.fail("bad_type", "the token's typ is not \(required)")
            }
        }

        guard var snapshot = await keys.keysForUse() else { return Self.fail("no_keys", "no signing keys are loaded") }
        if !snapshot.kids.contains(kid) {
            guard let fresh = await keys.refresh(), fresh.kids.contains(kid) else {
                return Self.fail("unknown_kid", "the token's kid is not among the issuer's keys")
            }
            snapshot = fresh
        }
        if !(await Self.signatureHolds(token, snapshot)) {
            // Perhaps the issuer rotated the key under the same kid: one rate-limited look.
            guard let fresh = await keys.refresh(), fresh.loadedAt != snapshot.loadedAt, fresh.kids.contains(kid),
                  await Self.signatureHolds(token, fresh)
            else { return Self.fail("bad_signature", "the token's signature does not verify") }
        }
        return checkClaims(claims)
    }

    private static func signatureHolds(_ token: String, _ snapshot: JWKSKeys.Snapshot) async -> Bool {
        do {
            _ = try await snapshot.collection.verify(token, as: SignatureOnly.self)
            return true
        } catch {
            return false
        }
    }

    func checkClaims(_ claims: JSONObject, now: Double = Date().timeIntervalSince1970) -> Result<CallerIdentity, AuthFailure> {
        let leeway = Double(settings.leewaySeconds)
        guard let iss = claims["iss"]?.stringValue, settings.issuers.contains(iss) else {
            return Self.fail("wrong_issuer", "the token's issuer is not accepted here")
        }
        let aud: [String]
        switch claims["aud"] {
        case .string(let s)?: aud = [s]
        case .array(let a)?: aud = a.compactMap(\.stringValue)
        default: aud = []
        }
        let audiences = configuredAudiences.isEmpty ? [resource.value] : configuredAudiences
        guard aud.contains(where: audiences.contains) else {
            return Self.fail("wrong_audience", "the token was not issued for this resource (aud)")
        }
        guard let exp = claims["exp"]?.doubleValue else { return Self.fail("no_expiry", "the token has no exp") }
        guard now < exp + leeway else { return Self.fail("expired", "the token has expired") }
        if let nbf = claims["nbf"]?.doubleValue, now + leeway < nbf {
            return Self.fail("not_yet_valid", "the token is not valid yet (nbf)")
        }
        if let iat = claims["iat"]?.doubleValue, now + leeway < iat {
            return Self.fail("issued_in_future", "the token was issued in the future (iat)")
        }
        guard let name = claims[settings.principalClaim]?.stringValue, !name.isEmpty else {
            return Self.fail("no_principal", "the token has no \(settings.principalClaim) claim")
        }
        var tenant = settings.defaultTenant
        if let claim = settings.tenantClaim {
            guard let t = claims[claim]?.stringValue, !t.isEmpty else {
                return Self.fail("no_tenant", "the token has no \(claim) claim")
            }
            tenant = t
        }
        var scopes: [String] = []
        if let s = claims["scope"]?.stringValue {
            scopes = s.split(separator: " ").map(String.init)
        } else {
            switch claims["scp"] {
            case .string(let s)?: scopes = s.split(separator: " ").map(String.init)
            case .array(let a)?: scopes = a.compactMap(\.stringValue)
            default: break
            }
        }
        return .success(CallerIdentity(name: name, tenant: tenant, scopes: scopes))
    }

    /// A base64url segment holding a JSON object.
    static func jsonSegment(_ segment: Substring) -> JSONObject? {
        var b64 = segment.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !b64.contains("=") else { return nil }
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), data.count <= 64 * 1024,
              let value = try? JSONValue.parse(Array(data)) else { return nil }
        return value.objectValue
    }
}

/// jwt-kit checks the signature; the claims are read and checked above, from
/// the same bytes, so that every refusal has its own reason.
private struct SignatureOnly: JWTPayload {
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
