/// Where the protocol layer sends outgoing messages.
///
/// Each call hands over one whole JSON-RPC message (no trailing newline); the
/// transport frames it. Responses complete on whatever thread the tool call
/// finished on, so `send` is called from many threads at once and must keep
/// every message whole and unmixed.
public protocol MessageSink: Sendable {
    func send(_ message: [UInt8])
    /// Sends a message and says which client request it belongs to. A transport
    /// with one stream per request (Streamable HTTP) writes it on that request's
    /// stream and ends the stream after the response; one with a single stream
    /// (stdio) just sends it.
    func send(_ message: [UInt8], route: MessageRoute)
}

/// Which client request an outgoing message belongs to.
public enum MessageRoute: Sendable {
    /// The response to this request (nil: to a message whose id could not be read).
    case response(JSONRPCID?)
    /// Sent while this request's call runs: its progress, log lines and
    /// server→client requests (a consent question).
    case during(JSONRPCID)
    /// Tied to no request (a question withdrawn at shutdown).
    case unrelated
}

extension MessageSink {
    public func send(_ message: [UInt8], route: MessageRoute) {
        send(message)
    }
}
