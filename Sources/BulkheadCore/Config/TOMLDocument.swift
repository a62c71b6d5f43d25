import BulkheadProtocol
import TOMLKit

/// Reads a TOML file into a JSON value, so manifests, policies and the server
/// configuration are validated with one set of helpers, and JSON Schemas written
/// as TOML tables reach clients as the JSON they mean.
enum TOMLDocument {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses `text`; errors name the line and column.
    static func parse(_ text: String) throws(Failure) -> JSONObject {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Failure(description: "\(error.description) at line \(error.source.begin.line), column \(error.source.begin.column)")
        } catch {
            throw Failure(description: "\(error)")
        }
        return object(table)
    }

    static func load(path: String) throws(Failure) -> JSONObject {
        guard let text = FileIO.readText(path) else {
            throw Failure(description: "cannot read \(path)")
        }
        return try parse(text)
    }

    private static func object(_ table: TOMLTable) -> JSONObject {
        var out = JSONObject()
        for (key, value) in table { out.appendUnchecked(key, json(value)) }
        return out
    }

    private static func json(_ value: TOMLValueConvertible) -> JSONValue {
        switch value.type {
        case .table: return value.table.map { .object(object($0)) } ?? .null
        case .array: return value.array.map { .array($0.map(json)) } ?? .null
        case .string: return value.string.map(JSONValue.string) ?? .null
        case .int: return value.int.map { .int(Int64($0)) } ?? .null
        case .double: return value.double.map(JSONValue.double) ?? .null
        case .bool: return value.bool.map(JSONValue.bool) ?? .null
        case .date, .time, .dateTime: return .string(value.debugDescription)
        }
    }
}
