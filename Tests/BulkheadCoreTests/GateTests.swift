import BulkheadProtocol
import Testing

@testable import BulkheadCore

@Suite struct ConsentSealTests {
    let seal = ConsentSeal(key: Array("0123456789abcdef0123456789abcdef".utf8), ttlMilliseconds: 1000)

    @Test func aStateRedeemsOnceForExactlyWhatItSealed() {
        let state = seal.seal(principal: "alice", tool: "tickets__create", digest: "d1", now: 0)
        #expect(throws: Never.self) { try seal.redeem(state, principal: "alice", tool: "tickets__create", digest: "d1", now: 10).get() }
        guard case .failure(let again) = seal.redeem(state, principal: "alice", tool: "tickets__create", digest: "d1", now: 11) else {
            Issue.record("redeemed twice"); return
        }
        #expect(again.reason.contains("already used"))
    }

    @Test(arguments: [
        ("bob", "tickets__create", "d1", 10, "another principal"),
        ("alice", "tickets__close", "d1", 10, "another tool"),
        ("alice", "tickets__create", "d2", 10, "arguments changed"),
        ("alice", "tickets__create", "d1", 1000, "expired"),
    ])
    func everyBindingIsChecked(principal: String, tool: String, digest: String, now: Int64, reason: String) {
        let state = seal.seal(principal: "alice", tool: "tickets__create", digest: "d1", now: 0)
        guard case .failure(let refused) = seal.redeem(state, principal: principal, tool: tool, digest: digest, now: now) else {
            Issue.record("accepted"); return
        }
        #expect(refused.reason.contains(reason), "\(refused.reason)")
    }

    @Test func anotherKeyOrAnyChangedByteIsRefused() {
        let state = seal.seal(principal: "alice", tool: "t", digest: "d", now: 0)
        let other = ConsentSeal(key: Array("another key, another key, another key".utf8), ttlMilliseconds: 1000)
        guard case .failure(let foreign) = other.redeem(state, principal: "alice", tool: "t", digest: "d", now: 1) else {
            Issue.record("accepted under another key"); return
        }
        #expect(foreign.reason.contains("not issued by this server"))
        var bytes = Array(state.utf8)
        bytes[3] = bytes[3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let altered = String(decoding: bytes, as: UTF8.self)
        guard case .failure = seal.redeem(altered, principal: "alice", tool: "t", digest: "d", now: 1) else {
            Issue.record("accepted an altered state"); return
        }
    }

    @Test func base64URLRoundTrips() {
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64URL.decode(Substring(Base64URL.encode(bytes))) == bytes)
        }
        #expect(Base64URL.decode("a+b") == nil)
    }

    @Test func theDigestIgnoresKeyOrderAndIntegralDoubles() {
        let a: JSONObject = ["title": "x", "n": .int(2), "tags": ["a", "b"]]
        let b: JSONObject = ["tags": ["a", "b"], "n": .double(2.0), "title": "x"]
        #expect(ArgumentDigest.of(a) == ArgumentDigest.of(b))
        #expect(ArgumentDigest.of(a) != ArgumentDigest.of(["title": "y", "n": .int(2), "tags": ["a", "b"]]))
    }
}

@Suite struct CallLimiterTests {
    @Test func aMinutesWorthThenOneEveryMinuteOverTheRate() {
        let limiter = CallLimiter()
        let minute: UInt64 = 60_000_000_000
        func admit(_ who: String, at t: UInt64) -> Bool {
            if case .go = limiter.admit(principal: who, rateKey: "*", perMinute: 3, concurrencyKey: "*", concurrent: nil, now: t) {
                return true
            }
            return false
        }
        #expect(admit("alice", at: 0) && admit("alice", at: 1) && admit("alice", at: 2))
        #expect(!admit("alice", at: 3))
        #expect(admit("bob", at: 3), "each principal has its own bucket")
        #expect(!admit("alice", at: minute / 3 - 1_000_000))  // just before a token is back
        #expect(admit("alice", at: minute / 3 + 1_000_000))
        #expect(!admit("alice", at: minute / 3 + 2_000_000))
    }

    @Test func concurrencyAtItsEdge() {
        let limiter = CallLimiter()
        func admit() -> Bool {
            if case .go = limiter.admit(principal: "p", rateKey: "*", perMinute: nil, concurrencyKey: "k", concurrent: 2, now: 0) {
                return true
            }
            return false
        }
        #expect(admit() && admit())
        #expect(!admit())
        limiter.release(concurrencyKey: "k")
        #expect(admit())
        #expect(!admit())
    }
}
