import BulkheadProtocol

/// The kinds of capability a plugin can request. Each is reached only through
/// the plugin's host table, and only when the operator granted it.
public enum CapabilityKind: String, Sendable, CaseIterable {
    /// A folder the plugin may read, or read and write, through file_* and dir_*.
    case files
    /// A named value (an API key, a password) the operator supplies.
    case secret
    /// Outbound HTTP to the origins the operator names.
    case http
    /// The core's own state (loaded plugins, health, refusals): for an admin plugin.
    case coreStatus = "core_status"
}

/// How far a files root reaches. Ordered: a grant can only narrow a request.
public enum FileAccess: String, Sendable, Comparable {
    case read
    case readWrite = "read-write"

    public static func < (a: FileAccess, b: FileAccess) -> Bool { a == .read && b == .readWrite }
}

/// One `[[capabilities]]` entry of a manifest: what the plugin's author asks
/// for, and why, in words an operator can judge.
public struct CapabilityRequest: Sendable {
    /// The name the plugin asks for it by (host->capability) and the operator grants it under.
    public var name: String
    public var kind: CapabilityKind
    /// For files: the most the plugin needs.
    public var access: FileAccess?
    /// When true, a plugin the operator did not grant this is refused at load.
    public var required: Bool
    public var reason: String

    /// Reads `[[capabilities]]`, appending what is wrong to `problems`.
    static func parseAll(_ value: JSONValue?, problems: inout [String]) -> [CapabilityRequest] {
        guard let value else { return [] }
        guard case .array(let entries) = value else {
            problems.append("manifest: capabilities must be an array of tables ([[capabilities]])")
            return []
        }
        var out: [CapabilityRequest] = []
        var seen = Set<String>()
        for (i, entry) in entries.enumerated() {
            guard case .object(let t) = entry else {
                problems.append("manifest: capabilities[\(i)] must be a table")
                continue
            }
            let name = t["name"]?.stringValue ?? ""
            let ctx = "manifest: capability '\(name.isEmpty ? "#\(i)" : name)': "
            if name.isEmpty {
                problems.append("\(ctx)'name' is missing")
            } else if !Naming.isToolName(name) {
                problems.append("\(ctx)name must be 1–64 characters of A-Z, a-z, 0-9, '_' and '-'")
            } else if !seen.insert(name).inserted {
                problems.append("\(ctx)declared twice")
            }
            let kindText = t["kind"]?.stringValue ?? ""
            let kind = CapabilityKind(rawValue: kindText)
            if kind == nil {
                let known = CapabilityKind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                problems.append("\(ctx)kind must be one of \(known), not '\(kindText)'")
            }
            var access: FileAccess?
            if kind == .files {
                let text = t["access"]?.stringValue ?? "read"
                access = FileAccess(rawValue: text)
                if access == nil { problems.append("\(ctx)access must be \"read\" or \"read-write\", not '\(text)'") }
            } else if t["access"] != nil {
                problems.append("\(ctx)access applies to files capabilities only")
            }
            var required = false
            switch t["required"] {
            case .bool(let b)?: required = b
            case nil: break
            default: problems.append("\(ctx)required must be true or false")
            }
            let reason = t["reason"]?.stringValue ?? ""
            if reason.isEmpty { problems.append("\(ctx)'reason' is missing: say why the plugin needs it, for the operator") }
            out.append(CapabilityRequest(name: name, kind: kind ?? .files, access: access, required: required, reason: reason))
        }
        return out
    }
}
