#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes each message plus `"\n"` to a file descriptor as one uninterrupted frame.
///
/// Responses complete on many threads at once. Rather than have each wait its
/// turn on a lock held across write(2) — which under a pipelined load turns
/// into a convoy of sleeping and waking threads — the first thread to arrive
/// becomes the writer and also writes whatever others queue meanwhile, many
/// frames per writev(2); the others queue their message and return at once.
/// Frames never interleave because only the writer touches the descriptor,
/// and they leave in the order they were sent. When the reader has gone away
/// (EPIPE), or the descriptor fails otherwise, writing stops quietly for good:
/// there is nobody left to tell.
///
/// It also keeps count of the bytes handed to it and not yet written, so the
/// reader can stop taking requests from a client that does not read its
/// answers (``waitForRoom(limit:)``): without that, every answer to such a
/// client would wait here, in memory, for as long as the client likes.
final class FileDescriptorSink: MessageSink {
    private struct State {
        var queued: [[UInt8]] = []
        var writing = false
        var writable = true
        /// Bytes queued plus those of the batch being written.
        var unsent = 0
    }

    private let fd: Int32
    private let state = ConditionLock(State())

    /// Most frames handed to one writev(2) (each frame takes two vectors).
    private static let framesPerWrite = 256

    init(fd: Int32) {
        self.fd = fd
    }

    func send(_ message: [UInt8]) {
        var batch: [[UInt8]] = state.withLock { s in
            guard s.writable else { return [] }
            s.queued.append(message)
            s.unsent += message.count + 1
            guard !s.writing else { return [] }
            s.writing = true
            defer { s.queued.removeAll(keepingCapacity: true) }
            return s.queued
        }
        while !batch.isEmpty {
            let ok = write(batch)
            let written = batch.reduce(0) { $0 + $1.count + 1 }
            batch = state.withLock { s in
                s.unsent = max(0, s.unsent - written)  // close may have zeroed it meanwhile
                if !ok { s.writable = false; s.queued.removeAll(); s.unsent = 0 }
                guard s.writable, !s.queued.isEmpty else {
                    s.writing = false
                    return []
                }
                defer { s.queued.removeAll(keepingCapacity: true) }
                return s.queued
            }
            // Wakes flush and waitForRoom: both wait on what a finished batch changes.
            state.broadcast()
        }
    }

    /// Blocks while more than `limit` bytes wait to be written, and returns
    /// how long it waited (zero when there was room). Returns at once once
    /// writing has stopped for good (the client went away, or close).
    /// `pausing` is told the unsent count first, outside the lock, when it does wait.
    func waitForRoom(limit: Int, pausing: (Int) -> Void) -> Duration {
        let unsent: Int? = state.withLock { $0.unsent <= limit || !$0.writable ? nil : $0.unsent }
        guard let unsent else { return .zero }
        pausing(unsent)
        let start = ContinuousClock.now
        while !state.wait(timeout: .seconds(3600), until: { $0.unsent <= limit || !$0.writable }) {}
        return ContinuousClock.now - start
    }

    /// Waits until every message sent so far has been written (or writing failed).
    func flush(timeout: Duration) -> Bool {
        state.wait(timeout: timeout) { !$0.writing && $0.queued.isEmpty }
    }

    /// Flushes (up to `timeout`), then writes nothing more: a message sent later
    /// would be cut short by the process exiting. Returns whether the flush completed.
    func close(timeout: Duration) -> Bool {
        let flushed = flush(timeout: timeout)
        state.withLock { s in
            s.writable = false
            s.queued.removeAll()
            s.unsent = 0
        }
        state.broadcast()
        return flushed
    }

    /// Writes `frames`, each followed by a newline, looping over partial writes and EINTR.
    private func write(_ frames: [[UInt8]]) -> Bool {
        var start = 0
        while start < frames.count {
            let end = min(frames.count, start + Self.framesPerWrite)
            if !writeFrames(frames[start..<end]) { return false }
            start = end
        }
        return true
    }

    private func writeFrames(_ frames: ArraySlice<[UInt8]>) -> Bool {
        var newline = UInt8(ascii: "\n")
        return withUnsafeMutablePointer(to: &newline) { newlinePointer in
            var vectors: [iovec] = []
            vectors.reserveCapacity(frames.count * 2)
            // The arrays stay alive (and unmoved) for the duration: `frames` holds them.
            for frame in frames {
                frame.withUnsafeBytes { body in
                    if body.count > 0 {
                        vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count))
                    }
                }
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(newlinePointer), iov_len: 1))
            }
            return vectors.withUnsafeMutableBufferPointer { iov in
                var first = 0
                while first < iov.count {
                    let written = writev(fd, iov.baseAddress! + first, Int32(iov.count - first))
                    if written < 0 {
                        switch errno {
                        case EINTR: continue
                        case EAGAIN, EWOULDBLOCK:
                            // A non-blocking descriptor inherited from the parent: wait until writable.
                            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                            _ = poll(&pfd, 1, -1)
                            continue
                        default:
                            return false
                        }
                    }
                    var remaining = written
                    while first < iov.count && remaining >= iov[first].iov_len {
                        remaining -= iov[first].iov_len
                        first += 1
                    }
                    if first < iov.count && remaining > 0 {
                        iov[first].iov_base = iov[first].iov_base.map { $0 + remaining }
                        iov[first].iov_len -= remaining
                    }
                }
                return true
            }
        }
    }
}
