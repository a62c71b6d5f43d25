#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// Writes each message plus `"\n"` to a file descriptor as one uninterrupted frame.
///
/// Responses complete on many threads at once, and a large one takes several
/// write(2) calls on a pipe; the lock is held across all of them so frames
/// never interleave. The message and its newline go out with writev(2), so the
/// common case is one system call and no copy. When the reader has gone away
/// (EPIPE), or the descriptor fails otherwise, writing stops quietly for good:
/// there is nobody left to tell.
final class FileDescriptorSink: MessageSink {
    private let fd: Int32
    /// Guards the descriptor; the value says whether it is still writable.
    private let writable = Mutex(true)

    init(fd: Int32) {
        self.fd = fd
    }

    func send(_ message: [UInt8]) {
        message.withUnsafeBytes { body in
            writable.withLock { ok in
                guard ok else { return }
                ok = writeFrame(body)
            }
        }
    }

    /// Writes `body` then a newline, looping over partial writes and EINTR.
    private func writeFrame(_ body: UnsafeRawBufferPointer) -> Bool {
        var newline = UInt8(ascii: "\n")
        return withUnsafeMutableBytes(of: &newline) { newlineBuffer in
            var vectors = (
                iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count),
                iovec(iov_base: newlineBuffer.baseAddress, iov_len: 1)
            )
            return withUnsafeMutableBytes(of: &vectors) { raw in
                let iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                var first = body.count == 0 ? 1 : 0
                while first < 2 {
                    let written = writev(fd, iov + first, Int32(2 - first))
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
                    while first < 2 && remaining >= iov[first].iov_len {
                        remaining -= iov[first].iov_len
                        first += 1
                    }
                    if first < 2 && remaining > 0 {
                        iov[first].iov_base = iov[first].iov_base.map { $0 + remaining }
                        iov[first].iov_len -= remaining
                    }
                }
                return true
            }
        }
    }
}
