import BulkheadProtocol
import Synchronization

/// Who listens for changes of which resources. A subscription holds only the
/// URIs its caller could read when it subscribed (each was read through the
/// gate as that caller), so a notification never tells anyone of a resource
/// it could not read.
final class ResourceSubscriptions: Sendable {
    private struct Subscription {
        let uris: Set<ExactKey>
        let updated: @Sendable (String) -> Void
        let ended: @Sendable () -> Void
    }
    private let subscriptions = Mutex<[UInt64: Subscription]>([:])
    private let nextID = Atomic<UInt64>(1)

    func add(uris: [String], updated: @escaping @Sendable (String) -> Void, ended: @escaping @Sendable () -> Void) -> UInt64 {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        subscriptions.withLock { $0[id] = Subscription(uris: Set(uris.map { ExactKey($0) }), updated: updated, ended: ended) }
        return id
    }

    func remove(_ id: UInt64) {
        _ = subscriptions.withLock { $0.removeValue(forKey: id) }
    }

    /// Tells every subscription naming `uri`; called on the plugin's thread, so it only sends.
    func changed(_ uri: String) {
        let key = ExactKey(uri)
        let listeners = subscriptions.withLock { $0.values.filter { $0.uris.contains(key) }.map(\.updated) }
        for l in listeners { l(uri) }
    }

    /// Ends every subscription (the server is shutting down).
    func endAll() {
        let all = subscriptions.withLock { s in
            defer { s.removeAll() }
            return Array(s.values)
        }
        for s in all { s.ended() }
    }
}

/// Cancels one subscription: a client's unsubscribe, or the listen request's end.
private final class SubscriptionCancellation: ToolCallCancellation {
    private let hub: ResourceSubscriptions
    private let id = Mutex<UInt64?>(nil)
    private let cancelled = Atomic<Bool>(false)

    init(hub: ResourceSubscriptions) { self.hub = hub }

    func attach(_ subscription: UInt64) {
        let gone = id.withLock { id -> Bool in
            id = subscription
            return cancelled.load(ordering: .relaxed)
        }
        if gone { hub.remove(subscription) }
    }

    func cancel(reason: String?) {
        cancelled.store(true, ordering: .relaxed)
        if let s = id.withLock({ $0 }) { hub.remove(s) }
    }
}

extension PluginHost {
    public var servesSubscriptions: Bool { servesResources }

    /// Subscribes the caller to `uris`: each is read through the gate as the caller, and
    /// only those it could read are kept (`accepted`, before any `updated`); the rest are
    /// dropped without a word, as a resource that does not exist would be.
    public func subscribe(uris: [String], context: RequestContext,
                          accepted: @escaping @Sendable ([String]) -> Void,
                          updated: @escaping @Sendable (String) -> Void,
                          ended: @escaping @Sendable () -> Void) -> (any ToolCallCancellation)? {
        let handle = SubscriptionCancellation(hub: subscriptionHub)
        let unique = Array(Set(uris.prefix(Self.subscriptionLimit))).sorted()
        guard !unique.isEmpty else {
            accepted([])
            handle.attach(subscriptionHub.add(uris: [], updated: updated, ended: ended))
            return handle
        }
        let pending = Mutex((left: unique.count, kept: [String]()))
        for uri in unique {
            _ = readResource(uri: uri, context: context) { [self] outcome in
                let readable: Bool = if case .result(let r) = outcome { !r.isError } else { false }
                let canonical = resolve(uri)?.uri ?? uri
                let done: [String]? = pending.withLock { p in
                    if readable { p.kept.append(canonical) }
                    p.left -= 1
                    return p.left == 0 ? p.kept.sorted() : nil
                }
                guard let done else { return }
                accepted(done)
                handle.attach(subscriptionHub.add(uris: done, updated: updated, ended: ended))
            }
        }
        return handle
    }

    /// Most URIs one subscription may name.
    static let subscriptionLimit = 100
}
