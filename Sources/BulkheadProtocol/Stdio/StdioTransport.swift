#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// MCP over stdio: one JSON-RPC message per line in each direction.
///
/// Reading happens on a thread of its own, with blocking read(2); writing
/// happens on whichever thread has a message, through ``sink``, one whole line
/// at a time. Stdout carries nothing but protocol messages; diagnostics go to
/// the server's log.
///
/// ``run(server:drainTimeout:)`` returns after a drain (``MCPServer/drain(timeout:)``),
/// which starts at the end of input or when ``requestDrain(reason:)`` is called
/// (from a signal, say). The reader has its own thread so that a drain can start
/// while read(2) still blocks, and so that messages arriving during the drain are
/// still read and answered (a new call is refused, a cancel still cancels). A
/// reader still blocked when the drain ends is left where it is: the process is
/// about to exit, and nothing it reads any more reaches the server.
///
///     let t = StdioTransport()
///     let s = MCPServer(..., sink: t.sink, ...)
///     t.run(server: s, drainTimeout: .seconds(10))
public final class StdioTransport: Sendable {
    /// Writes messages to the output descriptor, each as one line; safe from any thread.
    public let sink: any MessageSink
    private let output: FileDescriptorSink
    private let input: Int32
    private let maxLineLength: Int
    private let maxUnsentBytes: Int
    private let releaseMemory: @Sendable () -> Void
    private let control = ConditionLock(Control())

    private struct Control {
        var inputEnded = false
        /// The errno that ended reading, 0 at end of input.
        var readFailure: Int32 = 0
        /// Why a drain was asked for, when it was.
        var drainReason: String?
        /// The drain is over: lines still read are dropped.
        var finished = false
    }

    /// The default limit on one incoming line: MCP messages are mostly far below
    /// 1 MiB, and a limit is what an operator raises for the tool that needs more.
    public static let defaultMaxLineLength = 4 << 20
    /// The default bound on answers written and not yet read by the client.
    public static let defaultMaxUnsentBytes = 16 << 20
    /// After a message this large, freed memory is handed back to the system.
    static let trimAfterBytes = 1 << 20

    /// - Parameters:
    ///   - input: descriptor to read messages from (stdin by default); it is not closed.
    ///   - output: descriptor to write messages to (stdout by default); it is not closed.
    ///   - maxLineLength: longer lines are answered with -32600 and skipped.
    ///   - maxUnsentBytes: while more than this many bytes of answers wait for the
    ///     client to read them, no more requests are read from it.
    ///   - releaseMemory: called on the reader thread after each message of 1 MiB or
    ///     more was handled, to hand freed memory back to the system (the CLI calls
    ///     malloc_trim; the protocol layer knows no allocator).
    public init(input: Int32 = 0, output: Int32 = 1, maxLineLength: Int = StdioTransport.defaultMaxLineLength,
                maxUnsentBytes: Int = StdioTransport.defaultMaxUnsentBytes,
                releaseMemory: @escaping @Sendable () -> Void = {})
    {
        precondition(maxLineLength > 0 && maxUnsentBytes > 0)
        // A client that exits must not kill the server with SIGPIPE: writes fail with
        // EPIPE instead, and the sink stops writing.
        signal(SIGPIPE, SIG_IGN)
        self.input = input
        self.maxLineLength = maxLineLength
        self.maxUnsentBytes = maxUnsentBytes
        self.releaseMemory = releaseMemory
        self.output = FileDescriptorSink(fd: output)
        self.sink = self.output
    }

    /// Starts the drain now, as if input had ended, while reading goes on.
    /// Safe from any thread, also before ``run(server:drainTimeout:)``; returns
    /// false when a drain was already asked for.
    @discardableResult
    public func requestDrain(reason: String) -> Bool {
        let first = control.withLock { c in
            guard c.drainReason == nil else { return false }
            c.drainReason = reason
            return true
        }
        if first { control.broadcast() }
        return first
    }

    /// Serves `server` until input ends or a drain is requested, then drains it
    /// (`drainTimeout` for the calls in flight), writes out every answer and returns.
    public func run(server: MCPServer, drainTimeout: Duration) {
        let started = startReader(server: server)
        if !started {
            server.log("cannot start the stdin reader thread; shutting down")
            _ = requestDrain(reason: "no reader thread")
        }
        while !control.wait(timeout: .seconds(3600), until: { $0.inputEnded || $0.drainReason != nil }) {}
        let (ended, failure, reason) = control.withLock { ($0.inputEnded, $0.readFailure, $0.drainReason) }
        if ended {
            if failure != 0 {
                server.log("reading stdin failed (errno \(failure)); treating it as end of input")
            }
            server.log("end of input: shutting down")
        } else if let reason {
            server.log("\(reason): shutting down; new calls are refused, calls in flight get up to \(drainTimeout)")
        }
        server.drain(timeout: drainTimeout)
        control.withLock { $0.finished = true }
        // Answers queued behind the writer must reach the client before the process exits.
        if !output.close(timeout: drainTimeout) {
            server.log("shutting down: output could not be flushed within \(drainTimeout)")
        }
    }

    private func startReader(server: MCPServer) -> Bool {
        let input = input
        let limit = maxLineLength
        let unsentLimit = maxUnsentBytes
        let control = control
        let sink = sink
        let output = output
        let releaseMemory = releaseMemory
        return ReaderThread.start {
            let reader = LineReader(fd: input, maxLineLength: limit)
            let failure = reader.run { event in
                // After the drain nobody would see an answer; the process is exiting.
                if control.withLock({ $0.finished }) { return }
                // Backpressure: a client that does not read its answers gets no more
                // of them made until it does; its requests wait in the pipe, not here.
                let waited = output.waitForRoom(limit: unsentLimit) { unsent in
                    server.log("the client is not reading its answers (\(unsent) bytes unsent, max_unsent_bytes \(unsentLimit)): reading paused")
                }
                if waited > .zero { server.log("reading resumed after \(waited)") }
                let waitedForCalls = server.waitForCallRoom()
                if waitedForCalls > .seconds(1) {
                    server.log("reading was paused for \(waitedForCalls): the connection's calls in flight reached max_calls_in_flight")
                }
                switch event {
                case .line(let line):
                    server.receive(line)
                    // A big message leaves its tree's memory in malloc's free lists,
                    // spread over arenas and pages that would stay resident; hand it back.
                    if line.count >= StdioTransport.trimAfterBytes { releaseMemory() }
                case .overlong:
                    server.log("rejected a message longer than \(limit) bytes; skipping to the next line")
                    sink.send(
                        JSONRPCOutput.error(
                            id: nil, .invalidRequest("message longer than the \(limit)-byte limit")))
                }
            }
            control.withLock { c in
                c.inputEnded = true
                c.readFailure = failure
            }
            control.broadcast()
        }
    }
}

/// A detached POSIX thread for the stdin reader; the protocol layer has no Foundation.
private enum ReaderThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func start(_ run: @escaping @Sendable () -> Void) -> Bool {
        let body = Unmanaged.passRetained(Body(run)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, body)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(body).release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}
