/// Writes JSON-RPC 2.0 envelopes straight into byte buffers.
///
/// A response is `{"jsonrpc":"2.0","id":…,"result":…}`; writing the envelope
/// around a result that is itself written in place avoids building a
/// `JSONValue` tree only to serialise it again.
public enum JSONRPCOutput {
    /// Appends `id` as JSON.
    public static func writeID(_ id: JSONRPCID, into out: inout [UInt8]) {
        switch id {
        case .int(let i): JSONOutput.writeInteger(i, into: &out)
        case .string(let s): JSONOutput.writeString(s, into: &out)
        }
    }

    /// Starts a success response: everything up to and including `"result":`.
    /// Write the result value next, then call ``endResponse(into:)``.
    public static func beginResult(id: JSONRPCID, into out: inout [UInt8]) {
        out.appendLiteral(#"{"jsonrpc":"2.0","id":"#)
        writeID(id, into: &out)
        out.appendLiteral(#","result":"#)
    }

    /// Closes a response begun with ``beginResult(id:into:)``.
    public static func endResponse(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "}"))
    }

    /// A whole success response.
    public static func result(id: JSONRPCID, _ result: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96)
        beginResult(id: id, into: &out)
        result.serialize(into: &out)
        endResponse(into: &out)
        return out
    }

    /// A whole error response; `id` nil is written as `null` (the request's id could not be read).
    public static func error(id: JSONRPCID?, _ error: JSONRPCErrorObject) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        out.appendLiteral(#"{"jsonrpc":"2.0","id":"#)
        if let id { writeID(id, into: &out) } else { out.appendLiteral("null") }
        out.appendLiteral(#","error":"#)
        error.serialize(into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A request to the peer.
    public static func request(id: JSONRPCID, method: String, params: JSONObject?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        out.appendLiteral(#"{"jsonrpc":"2.0","id":"#)
        writeID(id, into: &out)
        out.appendLiteral(#","method":"#)
        JSONOutput.writeString(method, into: &out)
        if let params {
            out.appendLiteral(#","params":"#)
            params.serialize(into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A notification to the peer.
    public static func notification(method: String, params: JSONObject?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        out.appendLiteral(#"{"jsonrpc":"2.0","method":"#)
        JSONOutput.writeString(method, into: &out)
        if let params {
            out.appendLiteral(#","params":"#)
            params.serialize(into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
