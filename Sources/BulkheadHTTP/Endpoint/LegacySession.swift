import BulkheadProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A 2025-11-25 session: what `initialize` established, for one principal.
///
/// Its engine remembers the negotiated version, capabilities and log level
/// and holds the session's calls, so `notifications/cancelled` and the
/// answers to consent questions, which arrive as POSTs of their own, find
/// what they belong to. The session is bound to the principal that opened it:
/// its id presented with anybody else's token is 404, as if it did not exist.
final class LegacySession: Sendable {
    let id: String
    /// Who opened it; nil for an unauthenticated local endpoint.
    let owner: CallerIdentity?
    let router: SessionRouter
    let server: MCPServer
    private let lastUsed: Atomic<UInt64>

    init(id: String, owner: CallerIdentity?, principal: String?, engine: MCPEngine) {
        self.id = id
        self.owner = owner
        self.router = SessionRouter()
        self.server = engine.makeServer(principal: principal, sink: router)
        self.lastUsed = Atomic(Monotonic.nanoseconds())
    }

    func touch() { lastUsed.store(Monotonic.nanoseconds(), ordering: .relaxed) }

    var idleNanoseconds: UInt64 { Monotonic.nanoseconds() &- lastUsed.load(ordering: .relaxed) }

    /// Whether `caller` may use this session: the same principal and tenant
    /// (scopes may grow, as when a client steps up to a token with more).
    func admits(_ caller: CallerIdentity?) -> Bool {
        switch (owner, caller) {
        case (nil, nil): true
        case let (o?, c?): o.name == c.name && o.tenant == c.tenant
        default: false
        }
    }

    /// DELETE, expiry or shutdown: calls are cancelled, questions withdrawn, streams ended.
    func end(reason: String) {
        server.close()
        server.cancelAllCalls(reason: reason)
        router.endAll()
    }
}

/// A session's sink: each message goes on the stream of the request it belongs
/// to, the rest on the session's GET stream when one is open (else nowhere).
final class SessionRouter: MessageSink {
    private struct State {
        var exchanges: [JSONRPCID: Exchange] = [:]
        var standalone: Exchange?
    }

    private let state = Mutex(State())

    func send(_ message: [UInt8]) {
        send(message, route: .unrelated)
    }

    func send(_ message: [UInt8], route: MessageRoute) {
        switch route {
        case .response(let id?):
            if let exchange = state.withLock({ $0.exchanges.removeValue(forKey: id) }) {
                exchange.deliver(message, final: true)
            }
        case .during(let id):
            let target = state.withLock { $0.exchanges[id] ?? $0.standalone }
            target?.deliver(message, final: false)
        case .response(nil), .unrelated:
            state.withLock { $0.standalone }?.deliver(message, final: false)
        }
    }

    /// Routes request `id`'s messages to `exchange`; false when a request of that id is open.
    func register(_ id: JSONRPCID, _ exchange: Exchange) -> Bool {
        state.withLock { s in
            if let open = s.exchanges[id], !open.isFinished { return false }
            s.exchanges[id] = exchange
            return true
        }
    }

    func unregister(_ id: JSONRPCID, _ exchange: Exchange) {
        state.withLock { s in
            if s.exchanges[id] === exchange { s.exchanges[id] = nil }
        }
    }

    /// The session's GET stream; a newer GET replaces an older one, which ends.
    func openStandalone(_ exchange: Exchange) {
        let old = state.withLock { s -> Exchange? in
            defer { s.standalone = exchange }
            return s.standalone
        }
        old?.finish()
    }

    func closeStandalone(_ exchange: Exchange) {
        state.withLock { s in
            if s.standalone === exchange { s.standalone = nil }
        }
    }

    var openStreams: Int {
        state.withLock { $0.exchanges.count + ($0.standalone == nil ? 0 : 1) }
    }

    func endAll() {
        let all = state.withLock { s -> [Exchange] in
            defer { s = State() }
            return Array(s.exchanges.values) + (s.standalone.map { [$0] } ?? [])
        }
        for exchange in all { exchange.finish() }
    }
}

/// The open sessions, bounded in number and in idle time.
final class SessionTable: Sendable {
    private let sessions = Mutex<[String: LegacySession]>([:])
    let maxSessions: Int
    let idleNanoseconds: UInt64

    init(maxSessions: Int, idleSeconds: Double) {
        self.maxSessions = maxSessions
        self.idleNanoseconds = UInt64(idleSeconds * 1e9)
    }

    /// A new session, or nil when the table is full of sessions in use.
    func create(owner: CallerIdentity?, principal: String?, engine: MCPEngine) -> LegacySession? {
        var ended: [LegacySession] = []
        defer { for s in ended { s.end(reason: "the session expired") } }
        return sessions.withLock { table -> LegacySession? in
            if table.count >= maxSessions {
                for (id, s) in table where s.idleNanoseconds > idleNanoseconds {
                    ended.append(s)
                    table[id] = nil
                }
            }
            if table.count >= maxSessions {
                // The least recently used session with nothing open makes room.
                guard let victim = table.values.filter({ $0.router.openStreams == 0 && $0.server.inFlightCount == 0 })
                    .max(by: { $0.idleNanoseconds < $1.idleNanoseconds })
                else { return nil }
                ended.append(victim)
                table[victim.id] = nil
            }
            let session = LegacySession(id: Self.mintID(), owner: owner, principal: principal, engine: engine)
            table[session.id] = session
            return session
        }
    }

    /// The live session of that id; an expired one is ended and not found.
    func find(_ id: String) -> LegacySession? {
        let (found, expired): (LegacySession?, LegacySession?) = sessions.withLock { table in
            guard let s = table[id] else { return (nil, nil) }
            if s.idleNanoseconds > idleNanoseconds, s.router.openStreams == 0, s.server.inFlightCount == 0 {
                table[id] = nil
                return (nil, s)
            }
            return (s, nil)
        }
        expired?.end(reason: "the session expired")
        return found
    }

    func remove(_ id: String) -> LegacySession? {
        sessions.withLock { $0.removeValue(forKey: id) }
    }

    var all: [LegacySession] { sessions.withLock { Array($0.values) } }

    var count: Int { sessions.withLock { $0.count } }

    /// 256 bits from the system's CSPRNG, as 64 hex digits: visible ASCII, unguessable.
    static func mintID() -> String {
        var g = SystemRandomNumberGenerator()
        var out = ""
        out.reserveCapacity(64)
        for _ in 0..<4 {
            let word = g.next() as UInt64
            let hex = String(word, radix: 16)
            out += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return out
    }
}

/// Monotonic time for idle accounting.
enum Monotonic {
    static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
