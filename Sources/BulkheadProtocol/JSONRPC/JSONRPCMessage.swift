/// One incoming JSON-RPC 2.0 message, sorted into what the receiver must do with it.
///
/// MCP narrows JSON-RPC: ids are strings or integers (never null, never
/// fractional), params are objects, and batches (JSON arrays) were removed, so
/// they are invalid requests here.
public enum JSONRPCMessage: Sendable {
    /// A call that expects exactly one response with the same id.
    case request(id: JSONRPCID, method: String, params: JSONObject?)
    /// A call that expects no response.
    case notification(method: String, params: JSONObject?)
    /// An answer to a request this side sent. The id is nil only for an error
    /// the peer could not attribute to a request (it answered `id: null`).
    case response(id: JSONRPCID?, outcome: Result<JSONValue, JSONRPCErrorObject>)
    /// Not a valid message: answer with `error`, under `id` when one could be read.
    case invalid(id: JSONRPCID?, error: JSONRPCErrorObject)

    /// Parses and classifies one message; malformed JSON is `.invalid` with -32700 and no id.
    public init(parsing bytes: UnsafeRawBufferPointer) {
        do {
            self.init(classifying: try JSONValue.parse(bytes))
        } catch {
            self = .invalid(id: nil, error: .parseError(error.description))
        }
    }

    /// Classifies an already parsed JSON value.
    public init(classifying value: JSONValue) {
        guard case .object(let object) = value else {
            if case .array = value {
                self = .invalid(id: nil, error: .invalidRequest("batches (JSON arrays) are not supported"))
            } else {
                self = .invalid(id: nil, error: .invalidRequest("a message must be a JSON object"))
            }
            return
        }

        // One pass over the members instead of a lookup per field.
        var version: JSONValue?
        var idValue: JSONValue?
        var method: JSONValue?
        var params: JSONValue?
        var result: JSONValue?
        var error: JSONValue?
        for (key, member) in object {
            switch key {
            case "jsonrpc": version = member
            case "id": idValue = member
            case "method": method = member
            case "params": params = member
            case "result": result = member
            case "error": error = member
            default: break
            }
        }
        let id = idValue.flatMap(JSONRPCID.init)

        guard case .string("2.0")? = version else {
            self = .invalid(id: id, error: .invalidRequest(#"jsonrpc must be "2.0""#))
            return
        }

        if let method {
            guard case .string(let name) = method else {
                self = .invalid(id: id, error: .invalidRequest("method must be a string"))
                return
            }
            if result != nil || error != nil {
                self = .invalid(id: id, error: .invalidRequest("a request cannot carry result or error"))
                return
            }
            var paramsObject: JSONObject?
            switch params {
            case nil, .null?: paramsObject = nil
            case .object(let o)?: paramsObject = o
            default:
                self = .invalid(id: id, error: .invalidRequest("params must be an object"))
                return
            }
            guard let idValue else {
                self = .notification(method: name, params: paramsObject)
                return
            }
            guard let id else {
                self = .invalid(
                    id: nil, error: .invalidRequest("id must be a string or an integer, not \(idValue.typeName)"))
                return
            }
            self = .request(id: id, method: name, params: paramsObject)
            return
        }

        if result != nil || error != nil {
            if result != nil && error != nil {
                self = .invalid(id: id, error: .invalidRequest("a response cannot carry both result and error"))
                return
            }
            if let result {
                guard let id else {
                    self = .invalid(id: nil, error: .invalidRequest("a result must carry a string or integer id"))
                    return
                }
                self = .response(id: id, outcome: .success(result))
                return
            }
            guard let errorObject = error.flatMap(JSONRPCErrorObject.init(json:)) else {
                self = .invalid(id: id, error: .invalidRequest("error must be an object with an integer code and a string message"))
                return
            }
            switch idValue {
            case .null?:
                self = .response(id: nil, outcome: .failure(errorObject))
            case .some where id != nil:
                self = .response(id: id, outcome: .failure(errorObject))
            default:
                self = .invalid(id: nil, error: .invalidRequest("an error response must carry an id (or null)"))
            }
            return
        }

        self = .invalid(id: id, error: .invalidRequest("a message needs a method, a result or an error"))
    }
}
