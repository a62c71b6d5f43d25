#if canImport(Glibc)
import Glibc
#endif

/// Keeps stdin and stdout for the protocol alone.
enum StdioIsolation {
    /// Moves the protocol's stdin and stdout to new descriptors (close-on-exec)
    /// and points fds 0 and 1 at /dev/null and stderr, so code that writes to
    /// "stdout" — a plugin's printf, a stray print — lands in the log instead.
    static func takeOverStandardStreams() -> (input: Int32, output: Int32) {
        let input = fcntl(0, F_DUPFD_CLOEXEC, 3)
        let output = fcntl(1, F_DUPFD_CLOEXEC, 3)
        guard input >= 0, output >= 0 else { return (0, 1) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if null >= 0 {
            dup2(null, 0)
            close(null)
        }
        dup2(2, 1)
        return (input, output)
    }
}
