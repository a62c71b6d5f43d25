#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Splits what a file descriptor delivers into lines, reading with blocking read(2).
///
/// The thread sleeps in the kernel until bytes arrive, so an idle connection
/// costs nothing and a message is handled the moment it lands (no polling
/// interval). Lines are handed out in place, as views into one growing
/// buffer that is only compacted when it runs out of room; a long line is
/// therefore never rescanned or copied more than once per doubling.
final class LineReader {
    enum Event {
        /// One line without its `"\n"` (and without a `"\r"` before it); valid only during the callback.
        case line(UnsafeRawBufferPointer)
        /// A line longer than the limit; its bytes are discarded up to the next newline.
        case overlong
    }

    private static let readSize = 64 * 1024
    private static let initialCapacity = 2 * readSize
    private static let shrinkThreshold = 1 << 20

    private let fd: Int32
    private let maxLineLength: Int
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    /// Start of the first line not yet handed out.
    private var start = 0
    /// End of the bytes read so far.
    private var end = 0
    /// Bytes before this offset are known to hold no newline.
    private var scanned = 0
    /// Inside an over-long line: drop everything up to the next newline.
    private var discarding = false

    init(fd: Int32, maxLineLength: Int) {
        precondition(maxLineLength > 0)
        self.fd = fd
        self.maxLineLength = maxLineLength
        capacity = Self.initialCapacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        storage.deallocate()
    }

    /// Reads until end of input, handing each line to `handle`. An unterminated
    /// last line is still handed out. Returns 0 at end of input, else the errno
    /// that ended reading.
    func run(_ handle: (Event) -> Void) -> Int32 {
        while true {
            handOutCompleteLines(handle)
            if !discarding && end - start > maxLineLength {
                handle(.overlong)
                discarding = true
            }
            if discarding {
                // Nothing buffered contains a newline: all of it belongs to the over-long line.
                start = 0
                end = 0
                scanned = 0
            }
            makeRoom()
            let n = read(fd, storage + end, capacity - end)
            if n > 0 {
                end += n
                continue
            }
            if n == 0 { break }
            switch errno {
            case EINTR:
                continue
            case EAGAIN, EWOULDBLOCK:
                // A non-blocking descriptor inherited from the parent: sleep until readable.
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, -1)
                continue
            case let failure:
                return failure
            }
        }
        if !discarding && end > start {
            handOut(from: start, to: end, handle)
        }
        start = 0
        end = 0
        scanned = 0
        return 0
    }

    private func handOutCompleteLines(_ handle: (Event) -> Void) {
        while scanned < end, let newline = memchr(storage + scanned, 0x0A, end - scanned) {
            let lineEnd = storage.distance(to: UnsafeMutableRawPointer(newline))
            if discarding {
                discarding = false
            } else {
                handOut(from: start, to: lineEnd, handle)
            }
            start = lineEnd + 1
            scanned = start
        }
        scanned = end
    }

    private func handOut(from lineStart: Int, to lineEnd: Int, _ handle: (Event) -> Void) {
        if lineEnd - lineStart > maxLineLength {
            handle(.overlong)
            return
        }
        var contentEnd = lineEnd
        if contentEnd > lineStart && storage.load(fromByteOffset: contentEnd - 1, as: UInt8.self) == 0x0D {
            contentEnd -= 1
        }
        if contentEnd == lineStart { return }  // empty lines carry nothing
        handle(.line(UnsafeRawBufferPointer(start: storage + lineStart, count: contentEnd - lineStart)))
    }

    /// Ensures at least one read's worth of free space after `end`.
    private func makeRoom() {
        if start == end {
            start = 0
            end = 0
            scanned = 0
            if capacity > Self.shrinkThreshold {
                // A large message has been handled: give its memory back.
                storage.deallocate()
                capacity = Self.initialCapacity
                storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            }
        }
        if capacity - end >= Self.readSize { return }
        if start > 0 {
            // Move the partial line to the front; it is short unless it is a long line
            // in progress, and then `start` is already 0.
            let pending = end - start
            (storage + 0).copyMemory(from: storage + start, byteCount: pending)
            end = pending
            scanned -= start
            start = 0
            if capacity - end >= Self.readSize { return }
        }
        // Never beyond what the longest allowed line needs: past the limit it is discarded.
        let newCapacity = max(min(capacity * 2, maxLineLength + 2 * Self.readSize), end + Self.readSize)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        grown.copyMemory(from: storage, byteCount: end)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }
}
