import Synchronization

/// The endpoint's URL as clients use it: the metadata's `resource` and the
/// default token audience. Known at start unless the listener binds port 0,
/// when it is settled once the port is bound.
public final class ResourceURL: Sendable {
    private let current: Mutex<String>

    public init(_ settings: HTTPSettings) {
        current = Mutex(settings.resourceURL)
    }

    public var value: String { current.withLock { $0 } }

    func bound(port: Int, settings: HTTPSettings) {
        guard settings.publicURL == nil, settings.port == 0 else { return }
        var s = settings
        s.port = port
        current.withLock { $0 = s.resourceURL }
    }
}
