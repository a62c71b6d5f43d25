/// Why a request the server sent to the client (``MCPServer/sendRequest(method:params:completion:)``) got no result.
public enum MCPRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The client answered with a JSON-RPC error.
    case remote(JSONRPCErrorObject)
    /// The connection closed (or was already closed) before an answer arrived.
    case connectionClosed
    /// The server gave up on the request (``MCPServer/cancelRequest(_:reason:)``).
    case cancelled
    /// The server is shutting down and withdrew the request (``MCPServer/drain(timeout:)``),
    /// or refused to send it because the drain had begun.
    case shuttingDown

    public var description: String {
        switch self {
        case .remote(let e): "client answered with \(e)"
        case .connectionClosed: "connection closed before the client answered"
        case .cancelled: "request cancelled by the server"
        case .shuttingDown: "request withdrawn: the server is shutting down"
        }
    }
}
