import BulkheadProtocol
import Foundation

/// The 2026-07-28 Streamable HTTP header rules: `MCP-Protocol-Version` equal to
/// the body's `_meta` version, `Mcp-Method` equal to the body's method, and
/// `Mcp-Name` equal to `params.name` (or `params.uri`) for the methods that
/// name a target. Values are compared exactly, after trimming surrounding
/// whitespace and decoding the `=?base64?…?=` form non-ASCII values travel in.
enum HeaderRules {
    /// Methods whose target travels in `Mcp-Name`, and the parameter it mirrors.
    static let namedTargets: [String: String] = [
        "tools/call": "name", "prompts/get": "name", "resources/read": "uri",
    ]

    /// A header's value as the rules compare it: trimmed, base64 form decoded.
    /// Nil for a base64 form that does not decode to UTF-8.
    static func value(_ raw: String) -> String? {
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("=?base64?"), trimmed.hasSuffix("?="), trimmed.count >= 11 else { return trimmed }
        let inner = trimmed.dropFirst(9).dropLast(2)
        guard let data = Data(base64Encoded: String(inner)), let text = String(data: data, encoding: .utf8) else {
            return nil
        }
        return text
    }

    /// The -32020 a request breaks, or nil.
    static func mismatch(method: String, params: JSONObject?, headers: HeaderLookup) -> JSONRPCErrorObject? {
        guard let rawMethod = headers("mcp-method") else {
            return .headerMismatch("the Mcp-Method header is required and must equal the request's method")
        }
        guard let headerMethod = value(rawMethod) else {
            return .headerMismatch("the Mcp-Method header's base64 value does not decode")
        }
        guard headerMethod == method else {
            return .headerMismatch("the Mcp-Method header (\(headerMethod)) does not match the body's method (\(method))")
        }
        if let bodyVersion = params?["_meta"]?.objectValue?[MCPProtocol.protocolVersionKey]?.stringValue,
           let rawVersion = headers("mcp-protocol-version"), value(rawVersion) != bodyVersion {
            return .headerMismatch("the MCP-Protocol-Version header does not match params._meta's protocol version (\(bodyVersion))")
        }
        if let key = namedTargets[method] {
            guard let target = params?[key]?.stringValue else { return nil }  // the engine reports the missing parameter
            guard let rawName = headers("mcp-name") else {
                return .headerMismatch("the Mcp-Name header is required for \(method) and must equal params.\(key)")
            }
            guard let name = value(rawName) else {
                return .headerMismatch("the Mcp-Name header's base64 value does not decode")
            }
            guard name == target else {
                return .headerMismatch("the Mcp-Name header does not match params.\(key)")
            }
        }
        return nil
    }
}
