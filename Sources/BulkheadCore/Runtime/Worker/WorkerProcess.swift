#if canImport(Glibc)
import Glibc
#endif
import CBulkhead
import Foundation

/// One worker process and its end of the channel: spawning, framed writes
/// (one writer at a time, whole frames), a reader thread that hands every
/// frame to its owner, killing and reaping.
final class WorkerProcess: @unchecked Sendable {
    let pid: pid_t
    private let fd: Int32
    private let writeLock = NSLock()
    private let reapLock = NSLock()
    // Guarded by reapLock.
    private var reaped: Int32?
    private var closed = false

    /// What ended the reader: the channel closed, or a frame broke the protocol.
    enum End: Sendable {
        case closed
        case violation(String)
    }

    private init(pid: pid_t, fd: Int32) {
        self.pid = pid
        self.fd = fd
    }

    /// Starts the worker binary with `arguments`; nil and errno text when it cannot.
    /// `output` gets each line the worker (or the plugin) writes on its stdout or
    /// stderr: they never reach the core's own streams unescaped.
    static func spawn(executable: String, arguments: [String],
                      output: @escaping @Sendable (String) -> Void) -> Result<WorkerProcess, SpawnError> {
        var pair: [Int32] = [-1, -1]
        var pipe: [Int32] = [-1, -1]
        guard bh_shim_socketpair(&pair) == 0 else { return .failure(SpawnError(errno: errno)) }
        guard bh_shim_pipe(&pipe) == 0 else {
            let err = errno
            Glibc.close(pair[0])
            Glibc.close(pair[1])
            return .failure(SpawnError(errno: err))
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let pid = argv.withUnsafeBufferPointer { bh_shim_spawn_worker(executable, $0.baseAddress, pair[1], pipe[1]) }
        let err = errno
        Glibc.close(pair[1])
        Glibc.close(pipe[1])
        guard pid > 0 else {
            Glibc.close(pair[0])
            Glibc.close(pipe[0])
            return .failure(SpawnError(errno: err))
        }
        let reader = pipe[0]
        let t = Thread { readLines(reader, output) }
        t.name = "bh-w-out"
        t.start()
        return .success(WorkerProcess(pid: pid, fd: pair[0]))
    }

    /// Until the worker's end closes (it exits): one call per line, a line cut at 4 KiB.
    private static func readLines(_ fd: Int32, _ output: (String) -> Void) {
        defer { Glibc.close(fd) }
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            for b in chunk[..<n] {
                if b == 10 || line.count >= 4096 {
                    output(String(decoding: line, as: UTF8.self))
                    line.removeAll(keepingCapacity: true)
                    if b == 10 { continue }
                }
                line.append(b)
            }
        }
        if !line.isEmpty { output(String(decoding: line, as: UTF8.self)) }
    }

    struct SpawnError: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { String(cString: strerror(errno)) }
    }

    /// Reads frames on a thread of its own until the channel ends; then `ended`.
    func startReading(name: String, frame: @escaping @Sendable (WorkerFrame) -> Void,
                      ended: @escaping @Sendable (End) -> Void) {
        let t = Thread { [self] in ended(readLoop(frame)) }
        t.name = "bh-w-\(name)"
        t.start()
    }

    private func readLoop(_ deliver: (WorkerFrame) -> Void) -> End {
        var buffer: [UInt8] = []
        var start = 0
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            // Whole frames first, then more bytes.
            while buffer.count - start >= WorkerFrame.headerSize {
                var r = FieldReader(Array(buffer[start..<(start + WorkerFrame.headerSize)]))
                let length = Int((try? r.u32()) ?? 0)
                guard length >= WorkerFrame.headerSize - 4, length <= WorkerFrame.maxLength else {
                    return .violation("a frame of \(length) bytes (at most \(WorkerFrame.maxLength))")
                }
                guard buffer.count - start >= 4 + length else { break }
                let header = buffer[(start + 4)..<(start + WorkerFrame.headerSize)]
                var h = FieldReader(Array(header))
                let op = UInt16(truncatingIfNeeded: (try? h.u32()) ?? 0)
                let call = (try? h.u64()) ?? 0
                let seq = (try? h.u64()) ?? 0
                let payload = Array(buffer[(start + WorkerFrame.headerSize)..<(start + 4 + length)])
                start += 4 + length
                deliver(WorkerFrame(rawOp: op, call: call, seq: seq, payload: payload))
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return .closed }
            buffer += chunk[..<n]
        }
    }

    /// Sends one frame whole; false when the worker is gone.
    @discardableResult
    func send(_ frame: WorkerFrame, descriptor: Int32 = -1) -> Bool {
        let bytes = frame.encoded()
        writeLock.lock()
        defer { writeLock.unlock() }
        var offset = 0
        if descriptor >= 0 {
            let n = bytes.withUnsafeBytes { bh_shim_send_with_fd(fd, $0.baseAddress, UInt($0.count), descriptor) }
            guard n > 0 else { return false }
            offset = n
        }
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    func kill() { _ = Glibc.kill(pid, SIGKILL) }

    /// Once the reader has ended: waits for the process to end, closes the channel, and says how it did ("exited with status 3",
    /// "killed by SIGSYS (a seccomp violation)").
    func reap() -> String {
        reapLock.lock()
        defer { reapLock.unlock() }
        if reaped == nil {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped = status
        }
        // Only once the reader is done with it (reap is called when it ends).
        if !closed {
            closed = true
            Glibc.close(fd)
        }
        return Self.describe(reaped!)
    }

    /// Waits until `deadline` (monotonic ns) for the process to end on its own.
    func exited(before deadline: UInt64) -> Bool {
        while MonotonicClock.now() < deadline {
            var status: Int32 = 0
            reapLock.lock()
            if reaped != nil { reapLock.unlock(); return true }
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { reaped = status }
            reapLock.unlock()
            if r == pid { return true }
            usleep(2_000)
        }
        return false
    }

    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        let name: String
        switch signal {
        case SIGSYS: name = "SIGSYS (a forbidden system call: the seccomp filter)"
        case SIGXCPU: name = "SIGXCPU (its CPU-time limit)"
        case SIGKILL: name = "SIGKILL"
        case SIGSEGV: name = "SIGSEGV"
        case SIGABRT: name = "SIGABRT (abort)"
        case SIGBUS: name = "SIGBUS"
        default: name = "signal \(signal)"
        }
        return "killed by \(name)"
    }
}
