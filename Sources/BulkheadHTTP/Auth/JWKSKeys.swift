import BulkheadProtocol
import CHTTPClient
import Foundation
import JWTKit
import Synchronization

/// An issuer's signing keys, from a JWKS file or URL, refreshed with care.
///
/// - Keys without a `kid`, symmetric keys (`oct`) and keys not for signatures
///   are dropped: a token must name its key, and an HMAC key could be forged
///   from the public set. So is a key that does not load (a curve or size
///   jwt-kit does not take, say): one such key in the issuer's set must not
///   make the others unusable, at start or at a rotation.
/// - A token naming an unknown `kid` triggers one fetch, at most once per
///   `jwksRefreshMinimumSeconds` (an issuer that rotated its keys is followed;
///   anyone sending made-up `kid`s cannot hammer it); a URL's keys are also
///   fetched again after `jwksCacheSeconds`.
/// - When a fetch fails, the last good keys stay in use.
final class JWKSKeys: Sendable {
    struct Snapshot: Sendable {
        let collection: JWTKeyCollection
        let kids: Set<String>
        let loadedAt: UInt64
    }

    private struct State {
        var snapshot: Snapshot?
        var lastAttempt: UInt64?
    }

    private let state = Mutex(State())
    private let source: Source
    private let minimumInterval: UInt64
    private let cacheInterval: UInt64
    private let log: @Sendable (String) -> Void

    enum Source: Sendable {
        case file(String)
        case url(String)

        var description: String {
            switch self {
            case .file(let p): "JWKS file \(p)"
            case .url(let u): "JWKS URL \(u)"
            }
        }
    }

    init(source: Source, minimumRefreshSeconds: Int, cacheSeconds: Int, log: @escaping @Sendable (String) -> Void) {
        self.source = source
        self.minimumInterval = UInt64(minimumRefreshSeconds) * 1_000_000_000
        self.cacheInterval = UInt64(cacheSeconds) * 1_000_000_000
        self.log = log
    }

    /// Loads the keys at start; throws with a line for the operator when there are none.
    func loadInitial() async throws {
        let snapshot = try await fetch()
        state.withLock {
            $0.snapshot = snapshot
            $0.lastAttempt = Monotonic.nanoseconds()
        }
    }

    var current: Snapshot? { state.withLock { $0.snapshot } }

    /// Fetches again if the rate limit allows (`force` ignores the cache age but not
    /// the limit); returns the keys to use, the last good ones when the fetch failed.
    func refresh() async -> Snapshot? {
        let now = Monotonic.nanoseconds()
        let allowed = state.withLock { s -> Bool in
            if let last = s.lastAttempt, now &- last < minimumInterval { return false }
            s.lastAttempt = now
            return true
        }
        guard allowed else { return current }
        do {
            let snapshot = try await fetch()
            state.withLock { $0.snapshot = snapshot }
            return snapshot
        } catch {
            log("oauth: could not refresh the signing keys from \(source.description), keeping the last good ones: \(error)")
            return current
        }
    }

    /// The keys, fetched again first when a URL's copy is older than the cache time.
    func keysForUse() async -> Snapshot? {
        guard case .url = source, let snapshot = current else { return current }
        if Monotonic.nanoseconds() &- snapshot.loadedAt > cacheInterval { return await refresh() }
        return snapshot
    }

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    private func fetch() async throws -> Snapshot {
        let text: String
        switch source {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20,
                  let s = String(data: data, encoding: .utf8) else {
                throw LoadError(description: "\(source.description) cannot be read (or is over 1 MiB)")
            }
            text = s
        case .url(let url):
            text = try await Self.download(url)
        }
        let candidates = try Self.signingKeys(text, source: source.description)
        // One key at a time: jwt-kit stops at the first key it cannot load.
        let collection = JWTKeyCollection()
        var kids: Set<String> = []
        var dropped: [String] = []
        for (kid, key) in candidates {
            let one = String(decoding: JSONValue.object(["keys": .array([key])]).serialized(), as: UTF8.self)
            do {
                try await collection.add(jwksJSON: one)
                kids.insert(kid)
            } catch {
                dropped.append("kid \(kid): \(error)")
            }
        }
        guard !kids.isEmpty else {
            throw LoadError(description: "\(source.description): the keys do not load: \(dropped.joined(separator: "; "))")
        }
        if !dropped.isEmpty {
            log("oauth: \(source.description): ignoring \(dropped.count) key(s) that do not load: \(dropped.joined(separator: "; "))")
        }
        return Snapshot(collection: collection, kids: kids, loadedAt: Monotonic.nanoseconds())
    }

    /// The usable keys of a JWKS document, each with its id.
    static func signingKeys(_ text: String, source: String) throws -> [(kid: String, key: JSONValue)] {
        guard let doc = try? JSONValue.parse(Array(text.utf8)), case .array(let keys)? = doc.objectValue?["keys"] else {
            throw LoadError(description: "\(source) is not a JWKS document ({\"keys\": [...]})")
        }
        var kept: [(kid: String, key: JSONValue)] = []
        for key in keys {
            guard let o = key.objectValue, let kid = o["kid"]?.stringValue, !kid.isEmpty,
                  let kty = o["kty"]?.stringValue, ["RSA", "EC", "OKP"].contains(kty) else { continue }
            if let use = o["use"]?.stringValue, use != "sig" { continue }
            if let alg = o["alg"]?.stringValue, !OAuthSettings.algorithms.contains(alg) { continue }
            kept.append((kid, key))
        }
        guard !kept.isEmpty else {
            throw LoadError(description: "\(source) has no usable signing key (each needs a kid and kty RSA, EC or OKP)")
        }
        return kept
    }

    /// GET with the core's libcurl client, on a thread of its own (it blocks).
    static func download(_ url: String) async throws -> String {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<String, any Error>) in
            Thread.detachNewThread {
                var origin = bhc_origin()
                guard bhc_url_origin(url, &origin) == BHC_OK else {
                    c.resume(throwing: LoadError(description: "JWKS URL \(url) does not parse"))
                    return
                }
                var result = bhc_http_result()
                let status = bhc_http_perform("GET", url, &origin, "Accept: application/json", 24, nil, 0,
                                              5000, 1 << 20, nil, nil, &result)
                defer { bhc_http_result_free(&result) }
                guard status == BHC_OK else {
                    let message = withUnsafeBytes(of: result.message) { raw in
                        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    c.resume(throwing: LoadError(description: "JWKS URL \(url): \(message)"))
                    return
                }
                guard result.status == 200, let body = result.body else {
                    c.resume(throwing: LoadError(description: "JWKS URL \(url) answered HTTP \(result.status)"))
                    return
                }
                c.resume(returning: String(decoding: UnsafeRawBufferPointer(start: body, count: result.body_len), as: UTF8.self))
            }
        }
    }
}
