#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// MCP over stdio: one JSON-RPC message per line in each direction.
///
/// Reading happens on the thread that calls ``run(server:drainTimeout:)``,
/// with blocking read(2); writing happens on whichever thread has a message,
/// through ``sink``, one whole line at a time. Stdout carries nothing but
/// protocol messages; diagnostics go to the server's log.
///
///     let t = StdioTransport()
///     let s = MCPServer(..., sink: t.sink, ...)
///     t.run(server: s, drainTimeout: .seconds(10))
public final class StdioTransport: Sendable {
    /// Writes messages to the output descriptor, each as one line; safe from any thread.
    public let sink: any MessageSink
    private let input: Int32
    private let maxLineLength: Int

    /// The default limit on one incoming line.
    public static let defaultMaxLineLength = 64 << 20

    /// - Parameters:
    ///   - input: descriptor to read messages from (stdin by default); it is not closed.
    ///   - output: descriptor to write messages to (stdout by default); it is not closed.
    ///   - maxLineLength: longer lines are answered with -32600 and skipped.
    public init(input: Int32 = 0, output: Int32 = 1, maxLineLength: Int = StdioTransport.defaultMaxLineLength) {
        // A client that exits must not kill the server with SIGPIPE: writes fail with
        // EPIPE instead, and the sink stops writing.
        signal(SIGPIPE, SIG_IGN)
        self.input = input
        self.maxLineLength = maxLineLength
        self.sink = FileDescriptorSink(fd: output)
    }

    /// Serves `server` until end of input, then waits up to `drainTimeout` for
    /// calls in flight to be answered, closes the server and returns.
    public func run(server: MCPServer, drainTimeout: Duration) {
        let reader = LineReader(fd: input, maxLineLength: maxLineLength)
        let limit = maxLineLength
        let failure = reader.run { event in
            switch event {
            case .line(let line):
                server.receive(line)
            case .overlong:
                server.log("rejected a message longer than \(limit) bytes; skipping to the next line")
                sink.send(
                    JSONRPCOutput.error(
                        id: nil, .invalidRequest("message longer than the \(limit)-byte limit")))
            }
        }
        if failure != 0 {
            server.log("reading stdin failed (errno \(failure)); treating it as end of input")
        }
        let inFlight = server.inFlightCount
        if inFlight > 0 && !server.waitUntilIdle(timeout: drainTimeout) {
            server.log("end of input: \(server.inFlightCount) call(s) still in flight after \(drainTimeout); leaving them")
        }
        server.close()
        // Answers queued behind the writer must reach the client before the process exits.
        if let fileSink = sink as? FileDescriptorSink, !fileSink.flush(timeout: drainTimeout) {
            server.log("end of input: output could not be flushed within \(drainTimeout)")
        }
    }
}
