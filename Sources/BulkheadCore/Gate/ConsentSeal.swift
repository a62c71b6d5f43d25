import BulkheadProtocol
import Crypto

/// The 2026-07-28 era's `requestState` for consent: what the server asked
/// about, sealed with HMAC-SHA256 under the server's key, so that the
/// client's retry can only resume exactly the call that was put to its
/// human — same principal, same tool, same arguments, in time, once.
///
/// Format: base64url(payload JSON) "." base64url(MAC). The payload is not
/// secret (it holds no arguments, only their digest); it must not be forgeable.
final class ConsentSeal: Sendable {
    // Bytes, not a SymmetricKey: that type is not Sendable; making one per use is cheap.
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    let ttlMilliseconds: Int64
    /// Nonces already redeemed, so a state works once: per process, or across
    /// the processes sharing a `[consent] state_dir`.
    private let used: UsedNonces

    init(key: [UInt8], ttlMilliseconds: Int64, used: UsedNonces = UsedNonces()) {
        self.keyBytes = key
        self.ttlMilliseconds = ttlMilliseconds
        self.used = used
    }

    /// A nonce is always 128 random bits as 32 lowercase hex digits: a fixed
    /// length, so no state carries fewer bits than another.
    static let nonceLength = 32

    /// A fresh random 256-bit key, for a server whose operator configured none.
    static func randomKey() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    func seal(principal: String, tool: String, digest: String, now: Int64) -> String {
        var rng = SystemRandomNumberGenerator()
        let nonce = (0..<16).map { _ in
            let b = UInt8.random(in: 0...255, using: &rng)
            return (b < 16 ? "0" : "") + String(b, radix: 16)
        }.joined()
        let payload: JSONValue = [
            "v": 1, "p": .string(principal), "t": .string(tool), "d": .string(digest),
            "e": .int(now + ttlMilliseconds), "n": .string(nonce),
        ]
        let body = payload.serialized()
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: key)
        return Base64URL.encode(body) + "." + Base64URL.encode(Array(mac))
    }

    /// Checks a state the client sent back, and redeems it. The reason on
    /// failure is for the caller, and names which binding failed.
    func redeem(_ state: String, principal: String, tool: String, digest: String, now: Int64) -> Result<Void, Refused> {
        let parts = state.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let body = Base64URL.decode(parts[0]), let mac = Base64URL.decode(parts[1]) else {
            return .failure(Refused("the requestState is malformed"))
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: key) else {
            return .failure(Refused("the requestState was not issued by this server or was altered"))
        }
        guard case .object(let p)? = try? JSONValue.parse(body), p["v"] == .int(1),
              let who = p["p"]?.stringValue, let what = p["t"]?.stringValue, let sum = p["d"]?.stringValue,
              let expiry = p["e"]?.intValue, let nonce = p["n"]?.stringValue,
              nonce.utf8.count == Self.nonceLength, nonce.utf8.allSatisfy({ UsedNonces.isLowerHex($0) })
        else { return .failure(Refused("the requestState is malformed")) }
        guard who == principal else { return .failure(Refused("the consent was given to another principal")) }
        guard what == tool else { return .failure(Refused("the consent was given for another tool")) }
        guard sum == digest else { return .failure(Refused("the arguments changed after consent was asked for")) }
        guard now < expiry else { return .failure(Refused("the consent request expired; call again to be asked anew")) }
        switch used.claim(nonce, expiry: expiry, now: now) {
        case .fresh:
            return .success(())
        case .used:
            return .failure(Refused("the requestState was already used; call again to be asked anew"))
        case .failed:
            // Fail closed: a use that cannot be recorded could be replayed. The why (a path,
            // an errno) is the operator's, logged by the store; the client learns only that.
            return .failure(Refused("its use could not be recorded on the server, so it cannot be honoured"))
        }
    }

    struct Refused: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}

/// SHA-256 of the arguments in canonical form (keys sorted at every level),
/// so the digest depends on what the arguments say, not how they were written.
enum ArgumentDigest {
    static func of(_ arguments: JSONObject) -> String {
        var out: [UInt8] = []
        canonical(.object(arguments), into: &out)
        return Hex.encode(SHA256.hash(data: out))
    }

    private static func canonical(_ v: JSONValue, into out: inout [UInt8]) {
        switch v {
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, m) in o.members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.string(m.key).serialize(into: &out)
                out.append(UInt8(ascii: ":"))
                canonical(m.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                canonical(e, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .double(let d) where d.rounded() == d && abs(d) < 9e15:
            JSONValue.int(Int64(d)).serialize(into: &out)  // 2.0 and 2 are the same argument
        default:
            v.serialize(into: &out)
        }
    }
}

enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        if bytes.count - i == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if bytes.count - i == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        var value: [UInt8: UInt32] = [:]
        for (i, c) in alphabet.enumerated() { value[c] = UInt32(i) }
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            guard let v = value[c] else { return nil }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(acc >> UInt32(bits) & 0xff))
            }
        }
        return out
    }
}
