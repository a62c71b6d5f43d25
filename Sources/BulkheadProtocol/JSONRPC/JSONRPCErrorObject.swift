/// A JSON-RPC 2.0 error object: `{code, message, data?}`.
///
/// The codes a server of both MCP eras needs are named here, with the
/// constructors that fill `message` and `data` the way the specification and
/// the official Python SDK spell them, so every part of Bulkhead reports the
/// same fault the same way.
public struct JSONRPCErrorObject: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    // MARK: Codes

    /// Invalid JSON was received (the response id is null).
    public static let parseErrorCode = -32700
    /// The message is not a valid request object (batches included: MCP removed batching).
    public static let invalidRequestCode = -32600
    /// The method does not exist or is not available in this protocol era.
    public static let methodNotFoundCode = -32601
    /// Invalid method parameters (also: unknown tool, bad cursor, missing `_meta` keys).
    public static let invalidParamsCode = -32602
    /// Internal error.
    public static let internalErrorCode = -32603
    /// The caller's token is good but lacks a scope the request needs (over HTTP: 403
    /// with an `insufficient_scope` challenge); `data.requiredScopes` names them.
    public static let insufficientScopeCode = -32003
    /// MCP 2026-07-28 over HTTP: a required `Mcp-*` header is missing or disagrees with the body.
    public static let headerMismatchCode = -32020
    /// MCP 2026-07-28: the request needs a client capability it did not declare.
    public static let missingRequiredClientCapabilityCode = -32021
    /// MCP 2026-07-28: the request's protocol version is not served here.
    public static let unsupportedProtocolVersionCode = -32022

    // MARK: Constructors

    public static func parseError(_ detail: String? = nil) -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: parseErrorCode, message: detail.map { "Parse error: \($0)" } ?? "Parse error")
    }

    public static func invalidRequest(_ detail: String? = nil) -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: invalidRequestCode, message: detail.map { "Invalid request: \($0)" } ?? "Invalid request")
    }

    /// `-32601`, with the method name as `data` (as the Python SDK sends it).
    public static func methodNotFound(_ method: String) -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: methodNotFoundCode, message: "Method not found", data: .string(method))
    }

    public static func insufficientScope(_ scopes: [String], message: String) -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: insufficientScopeCode, message: message,
                           data: .object(["requiredScopes": .array(scopes.map { .string($0) })]))
    }

    public static func headerMismatch(_ message: String) -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: headerMismatchCode, message: message)
    }

    public static func invalidParams(_ message: String) -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: invalidParamsCode, message: message)
    }

    public static func internalError(_ message: String = "Internal error") -> JSONRPCErrorObject {
        JSONRPCErrorObject(code: internalErrorCode, message: message)
    }

    /// `-32022` with `data: {supported, requested}`, the shape clients parse to pick a version and retry.
    public static func unsupportedProtocolVersion(requested: String, supported: [String]) -> JSONRPCErrorObject {
        JSONRPCErrorObject(
            code: unsupportedProtocolVersionCode, message: "Unsupported protocol version",
            data: .object(["supported": .array(supported.map { .string($0) }), "requested": .string(requested)]))
    }

    /// `-32021` with `data: {requiredCapabilities}`.
    public static func missingRequiredClientCapability(_ required: JSONObject, message: String? = nil)
        -> JSONRPCErrorObject
    {
        JSONRPCErrorObject(
            code: missingRequiredClientCapabilityCode,
            message: message ?? "Missing required client capability",
            data: .object(["requiredCapabilities": .object(required)]))
    }

    // MARK: JSON

    /// The error object as JSON.
    public var json: JSONValue {
        var o = JSONObject()
        o.appendUnchecked("code", .int(Int64(code)))
        o.appendUnchecked("message", .string(message))
        if let data { o.appendUnchecked("data", data) }
        return .object(o)
    }

    /// Reads an error object as a peer sent it: `code` an integer, `message` a string.
    public init?(json: JSONValue) {
        guard case .object(let o) = json, case .int(let code)? = o["code"], case .string(let message)? = o["message"],
            let narrow = Int(exactly: code)
        else { return nil }
        self.init(code: narrow, message: message, data: o["data"])
    }

    func serialize(into out: inout [UInt8]) {
        out.appendLiteral(#"{"code":"#)
        JSONOutput.writeInteger(Int64(code), into: &out)
        out.appendLiteral(#","message":"#)
        JSONOutput.writeString(message, into: &out)
        if let data {
            out.appendLiteral(#","data":"#)
            data.serialize(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    public var description: String { "JSON-RPC error \(code): \(message)" }
}
