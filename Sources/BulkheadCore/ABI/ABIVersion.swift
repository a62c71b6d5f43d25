import CBulkhead

/// An ABI version, and the rule deciding whether the core can load a plugin built for one.
public struct ABIVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    /// The version this core speaks: the header it was compiled with.
    public static let core = ABIVersion(major: Int(BH_ABI_VERSION_MAJOR), minor: Int(BH_ABI_VERSION_MINOR))

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses "1.0".
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, b >= 0 else { return nil }
        self.init(major: a, minor: b)
    }

    public var description: String { "\(major).\(minor)" }

    /// Why a plugin built for `self` cannot run on `core`, or nil when it can.
    /// Majors must be equal: a major changes what existing items mean. The core's
    /// minor must be at least the plugin's: a minor only adds at the end, so a
    /// newer core serves older plugins, never the other way round.
    public func incompatibility(with core: ABIVersion = .core) -> String? {
        if major != core.major {
            return "built for ABI \(self), this core speaks ABI \(core) (majors must be equal)"
        }
        if minor > core.minor {
            return "built for ABI \(self), newer than this core's ABI \(core) (the core's minor must be at least the plugin's)"
        }
        return nil
    }
}
