import BulkheadProtocol
import Synchronization

/// Redaction of a plugin's granted secrets from what it hands back, so that a
/// secret reaches the client no more than it reaches the log.
extension CapabilitySet {
    static let redacted = "[redacted]"

    /// Whether there is anything to redact: false for nearly every plugin, which
    /// then pays nothing on its results.
    var holdsSecrets: Bool { !secretValues.isEmpty }

    /// `value` with every granted secret's value removed from its strings and
    /// member names, at any depth. Redacting the parsed value, not the text it was
    /// parsed from, keeps the JSON valid and catches a secret however the plugin
    /// escaped it (`\u0041` for `A`). A number whose digits spell a secret becomes
    /// the string "[redacted]" (its type changes, so an output schema may then
    /// refuse it, which is the safe side).
    func redact(_ value: JSONValue) -> JSONValue {
        guard holdsSecrets else { return value }
        switch value {
        case .null, .bool: return value
        case .int, .double:
            let digits = String(decoding: value.serialized(), as: UTF8.self)
            return scrub(digits) == digits ? value : .string(Self.redacted)
        case .string(let s): return .string(scrub(s))
        case .array(let elements): return .array(elements.map(redact))
        case .object(let members):
            var out = JSONObject()
            // Names are unique until one is redacted, so appending is safe (and
            // linear) until then; after it, a redacted name may collide with
            // another, and the later one wins, as a repeated name does in parsing.
            var renamed = false
            for (key, member) in members {
                let name = scrub(key)
                renamed = renamed || !name.isExactly(key)
                if renamed { out[name] = redact(member) } else { out.appendUnchecked(key, redact(member)) }
            }
            return .object(out)
        }
    }
}

/// Every secret value granted to any plugin, for text that cannot tell which
/// plugin it belongs to: host->last_error is per thread, and threads a plugin
/// starts carry no plugin. Scrubbing with all of them is the safe superset; it
/// tells a plugin nothing it could not learn by reading the process's memory.
enum KnownSecrets {
    private static let values = Mutex<[String]>([])

    static func add(_ secret: String) {
        values.withLock { if !$0.contains(secret) { $0.append(secret) } }
    }

    /// `text` with every known secret replaced by "[redacted]".
    static func scrub(_ text: String) -> String {
        values.withLock { secrets in
            var out = text
            for secret in secrets where out.contains(secret) {
                out = out.replacing(secret, with: CapabilitySet.redacted)
            }
            return out
        }
    }
}
