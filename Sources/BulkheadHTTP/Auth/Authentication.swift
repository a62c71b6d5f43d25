import BulkheadProtocol
import Foundation

/// How a request's bearer token was judged.
public enum AuthOutcome: Sendable {
    /// The token stands for this principal.
    case caller(CallerIdentity)
    /// No authentication is configured (a loopback-only endpoint): served as
    /// the configuration's default principal, by name.
    case anonymous(principal: String)
    /// Refused: 401 with a challenge.
    case refused(AuthFailure)
}

/// Why a token was refused. `description` goes to the client (in the challenge's
/// `error_description`) and to the log: it never contains the token.
public struct AuthFailure: Error, Sendable, Equatable {
    public enum Reason: String, Sendable {
        /// No Authorization header: the challenge carries no error code (RFC 6750 §3.1).
        case missing
        /// Not `Bearer <token>`.
        case malformed
        /// Unknown API token, bad signature, expired, wrong issuer or audience, …
        case invalid
    }

    public var reason: Reason
    /// A short machine label for metrics (`expired`, `bad_signature`, `unknown_kid`, …).
    public var label: String
    public var description: String

    public init(_ reason: Reason, label: String, _ description: String) {
        self.reason = reason
        self.label = label
        self.description = description
    }
}

/// Reads `Authorization: Bearer <token>`. The scheme is case-insensitive
/// (RFC 7235); the token is the b64token of RFC 6750.
enum BearerCredentials {
    static func token(from header: String?) -> Result<String, AuthFailure> {
        guard let header else { return .failure(AuthFailure(.missing, label: "missing", "no bearer token")) }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .failure(AuthFailure(.malformed, label: "malformed", "the Authorization header must be 'Bearer <token>'"))
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        let allowed = token.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E || b == 0x2B || b == 0x2F || b == 0x3D
        }
        guard !token.isEmpty, token.utf8.count <= 16 * 1024, allowed else {
            return .failure(AuthFailure(.malformed, label: "malformed", "the bearer token is not a token (RFC 6750 b64token)"))
        }
        return .success(token)
    }
}

/// Decides who a request comes from: API tokens first (a hash lookup), then
/// OAuth access tokens when an issuer is configured.
public final class Authenticator: Sendable {
    let apiTokens: APITokens
    let jwt: JWTVerifier?
    /// When neither is configured: who requests are served as.
    let anonymousPrincipal: String?

    public init(apiTokens: APITokens, jwt: JWTVerifier?, anonymousPrincipal: String?) {
        self.apiTokens = apiTokens
        self.jwt = jwt
        self.anonymousPrincipal = apiTokens.isEmpty && jwt == nil ? anonymousPrincipal : nil
    }

    /// Whether requests must carry a token.
    public var required: Bool { anonymousPrincipal == nil }

    public func authenticate(authorization: String?) async -> AuthOutcome {
        if let anonymousPrincipal { return .anonymous(principal: anonymousPrincipal) }
        let token: String
        switch BearerCredentials.token(from: authorization) {
        case .success(let t): token = t
        case .failure(let f): return .refused(f)
        }
        if let caller = apiTokens.caller(for: token) { return .caller(caller) }
        guard let jwt, JWTVerifier.looksLikeJWT(token) else {
            return .refused(AuthFailure(.invalid, label: "unknown_token", "the token is not valid here"))
        }
        switch await jwt.verify(token) {
        case .success(let caller): return .caller(caller)
        case .failure(let f): return .refused(f)
        }
    }
}
