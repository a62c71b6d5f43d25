#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time as log lines and audit records write it.
public enum Timestamp {
    /// Now, as RFC 3339 UTC with milliseconds.
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return iso(milliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000))
    }

    /// A time in milliseconds since the Unix epoch, as RFC 3339 UTC with milliseconds.
    public static func iso(milliseconds: Int64) -> String {
        var t = time_t(milliseconds / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S", &tm)
        let ms = Int(milliseconds % 1000)
        let base = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return base + "." + (ms < 10 ? "00" : ms < 100 ? "0" : "") + String(ms) + "Z"
    }
}
