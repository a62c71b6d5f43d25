import Synchronization

/// The rate and concurrency limits of one plugin's policy, counted per
/// principal (rate) and per plugin (concurrency), each either for the whole
/// plugin or for one tool when that tool's `[limits.<tool>]` sets its own.
final class CallLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    private struct State: ~Copyable {
        var buckets: [String: Bucket] = [:]
        var running: [String: Int] = [:]
    }

    private let state = Mutex(State())

    enum Verdict {
        case go
        /// Refused; retrying after this many milliseconds may work.
        case busy(reason: String, retryAfterMilliseconds: Int)
    }

    /// Takes one call of `principal` against `perMinute` (a token bucket that
    /// holds a minute's worth and refills evenly), and a running slot against
    /// `concurrent`. Both or neither: a refused call holds nothing.
    func admit(principal: String, rateKey: String, perMinute: Int?, concurrencyKey: String, concurrent: Int?,
               now: UInt64) -> Verdict {
        state.withLock { s in
            if let concurrent, s.running[concurrencyKey, default: 0] >= concurrent {
                return .busy(reason: "\(concurrent) call\(concurrent == 1 ? " is" : "s are") already running, the most this policy allows at once",
                             retryAfterMilliseconds: 100)
            }
            if let perMinute {
                let key = principal + "\u{0}" + rateKey
                var b = s.buckets[key] ?? Bucket(tokens: Double(perMinute), updated: now)
                let refill = Double(now &- b.updated) / 60e9 * Double(perMinute)
                b.tokens = min(Double(perMinute), b.tokens + refill)
                b.updated = now
                guard b.tokens >= 1 else {
                    s.buckets[key] = b
                    let wait = (1 - b.tokens) / Double(perMinute) * 60_000
                    return .busy(reason: "more than \(perMinute) call\(perMinute == 1 ? "" : "s") a minute", retryAfterMilliseconds: Int(wait.rounded(.up)))
                }
                b.tokens -= 1
                s.buckets[key] = b
            }
            if concurrent != nil { s.running[concurrencyKey, default: 0] += 1 }
            return .go
        }
    }

    /// Gives back the running slot `admit` took, once the plugin returned.
    func release(concurrencyKey: String) {
        state.withLock { s in
            if let n = s.running[concurrencyKey] { s.running[concurrencyKey] = n > 1 ? n - 1 : nil }
        }
    }
}
