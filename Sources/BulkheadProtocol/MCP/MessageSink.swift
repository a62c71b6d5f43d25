/// Where the protocol layer sends outgoing messages.
///
/// Each call hands over one whole JSON-RPC message (no trailing newline); the
/// transport frames it. Responses complete on whatever thread the tool call
/// finished on, so `send` is called from many threads at once and must keep
/// every message whole and unmixed.
public protocol MessageSink: Sendable {
    func send(_ message: [UInt8])
}
