import BulkheadProtocol

/// `[runtime]` in a plugin's policy.toml: which tier the plugin runs in, and
/// the limits of its worker. The worker tier is the default: a plugin runs
/// inside the server's own process only when its operator wrote so.
public struct RuntimePolicy: Sendable, Equatable {
    public enum Isolation: String, Sendable {
        /// Its own process behind namespaces, Landlock, seccomp and rlimits.
        case worker
        /// Inside the server: no wall but the host table's checks.
        case inProcess = "in-process"
    }

    public var isolation: Isolation = .worker
    /// RLIMIT_DATA of the worker: heap, anonymous maps and thread stacks.
    public var memoryBytes: UInt64 = 512 << 20
    /// RLIMIT_CPU of the worker, over its whole life; 0: none. Off by default
    /// because it adds up across calls: a busy, healthy worker would be killed
    /// for its age. A runaway call is stopped by its deadline instead.
    public var cpuSeconds: UInt64 = 0
    /// RLIMIT_NOFILE of the worker.
    public var openFiles: UInt64 = 256
    /// Restarts allowed within a minute before the plugin is failed.
    public var restartBudget = 5
    /// How long a call that passed its deadline may ignore its cancellation
    /// before its worker is killed and restarted.
    public var cancelGraceMilliseconds = 2_000

    public static let defaults = RuntimePolicy()

    static let keys = ["isolation", "memory_mb", "cpu_seconds", "open_files", "restart_budget", "cancel_grace_ms"]

    static func parse(_ value: JSONValue?, problems: inout [String]) -> RuntimePolicy {
        var runtime = RuntimePolicy()
        guard let value else { return runtime }
        guard case .object(let table) = value else {
            problems.append("policy: [runtime] must be a table")
            return runtime
        }
        func number(_ key: String, _ range: ClosedRange<Int64>) -> Int64? {
            guard let v = table[key] else { return nil }
            guard let i = v.intValue, range.contains(i) else {
                problems.append("policy: runtime.\(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
                return nil
            }
            return i
        }
        for (key, _) in table where !keys.contains(key) {
            problems.append("policy: unknown key runtime.\(key) (known: \(keys.joined(separator: ", ")))")
        }
        if let v = table["isolation"] {
            if let s = v.stringValue, let isolation = Isolation(rawValue: s) {
                runtime.isolation = isolation
            } else {
                problems.append("policy: runtime.isolation must be \"worker\" or \"in-process\"")
            }
        }
        if let mb = number("memory_mb", 16...1_048_576) { runtime.memoryBytes = UInt64(mb) << 20 }
        if let s = number("cpu_seconds", 0...31_536_000) { runtime.cpuSeconds = UInt64(s) }
        if let n = number("open_files", 16...1_048_576) { runtime.openFiles = UInt64(n) }
        if let n = number("restart_budget", 0...1000) { runtime.restartBudget = Int(n) }
        if let n = number("cancel_grace_ms", 0...600_000) { runtime.cancelGraceMilliseconds = Int(n) }
        return runtime
    }
}
