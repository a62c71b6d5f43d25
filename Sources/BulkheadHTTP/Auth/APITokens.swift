import BulkheadProtocol
import Crypto

/// API tokens for small deployments: `token_sha256` under `[principals.NAME]`.
///
/// Only the SHA-256 of each token is configured, so the configuration file
/// holds nothing a reader could present. A token is looked up by its hash:
/// the comparison never touches the secret itself, and the lookup's timing
/// says nothing about it.
public struct APITokens: Sendable {
    private let byHash: [String: CallerIdentity]

    /// `hashes`: lower-case hex SHA-256 of a token → the principal it stands for.
    public init(_ hashes: [String: CallerIdentity]) {
        var table: [String: CallerIdentity] = [:]
        for (hash, caller) in hashes { table[hash.lowercased()] = caller }
        byHash = table
    }

    public var isEmpty: Bool { byHash.isEmpty }

    func caller(for token: String) -> CallerIdentity? {
        byHash[Self.digest(token)]
    }

    /// Lower-case hex SHA-256 of the token's UTF-8 bytes.
    public static func digest(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { b in
            let hex = String(b, radix: 16)
            return b < 16 ? "0" + hex : hex
        }.joined()
    }

    /// A fresh token: `bh_` and 256 bits from the system CSPRNG, base64url.
    public static func mint() -> String {
        var g = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: g.next() as UInt64) { bytes += $0 } }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = Array("bh_".utf8)
        var acc: UInt32 = 0
        var bits = 0
        for b in bytes {
            acc = acc << 8 | UInt32(b)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int(acc >> UInt32(bits) & 63)])
            }
        }
        if bits > 0 { out.append(alphabet[Int(acc << UInt32(6 - bits) & 63)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
