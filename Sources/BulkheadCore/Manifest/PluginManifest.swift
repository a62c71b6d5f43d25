import BulkheadProtocol

/// What a plugin folder's `manifest.toml` says, read and checked before any of
/// the plugin's code runs.
public struct PluginManifest: Sendable {
    /// Whether a tool only reads or changes state (writes will need consent).
    public enum Access: String, Sendable {
        case read, write
    }

    public struct Tool: Sendable {
        public var name: String
        public var title: String?
        public var description: String
        public var access: Access
        public var inputSchema: JSONValue
        public var outputSchema: JSONValue?
        /// The input schema compiled once, so every call's arguments are checked before the plugin sees them.
        public var validator: JSONSchemaValidator
        /// The output schema compiled once, so structured content is checked before the client sees it; nil without one.
        public var outputValidator: JSONSchemaValidator? = nil
    }

    /// The plugin's name: its trust domain, and the prefix of its tools' names.
    public var name: String
    public var version: String
    public var abi: ABIVersion
    /// The library file, relative to the folder.
    public var library: String
    public var description: String
    public var tools: [Tool]
    /// `[[capabilities]]`: what the plugin asks its operator for, beyond its own tools.
    public var capabilities: [CapabilityRequest]
    /// Things worth telling the operator that do not refuse the plugin.
    public var notes: [String] = []
    /// `[[resources]]`, `[[resource_templates]]` and `[[prompts]]` (ABI 1.1).
    public var resources: [Resource] = []
    public var resourceTemplates: [ResourceTemplate] = []
    public var prompts: [Prompt] = []
    /// `resource_list = true`: the plugin registers a function listing its resources per caller.
    public var resourceList = false

    public static let fileName = "manifest.toml"

    /// Reads and validates `manifest.toml` in `folder`. Throws every problem found, not just the first.
    public static func load(folder: String) throws(LoadProblems) -> PluginManifest {
        let path = FileIO.join(folder, fileName)
        let doc: JSONObject
        do {
            doc = try TOMLDocument.load(path: path)
        } catch {
            throw LoadProblems(["manifest.toml is not valid TOML: \(error)"])
        }
        return try parse(doc)
    }

    static func parse(_ doc: JSONObject) throws(LoadProblems) -> PluginManifest {
        var problems: [String] = []
        func string(_ key: String, in obj: JSONObject, context: String, required: Bool = true) -> String? {
            switch obj[key] {
            case .string(let s)?: return s
            case nil: if required { problems.append("\(context)'\(key)' is missing") }
            default: problems.append("\(context)'\(key)' must be a string")
            }
            return nil
        }

        let name = string("name", in: doc, context: "manifest: ") ?? ""
        if !name.isEmpty && !Naming.isPluginName(name) {
            problems.append("manifest: name '\(name)' must be 1–64 characters of a-z, 0-9, '_' and '-', starting with a letter, with no '__' and no '_' at the end ('__' joins plugin and tool in served names)")
        }
        let version = string("version", in: doc, context: "manifest: ") ?? ""
        let abiText = string("abi", in: doc, context: "manifest: ") ?? ""
        let abi = ABIVersion(abiText)
        if !abiText.isEmpty && abi == nil {
            problems.append("manifest: abi '\(abiText)' must look like \"1.0\"")
        }
        let library = string("library", in: doc, context: "manifest: ") ?? ""
        if library.contains("/") || library == "." || library == ".." {
            problems.append("manifest: library '\(library)' must be a file name inside the plugin folder")
        }
        let description = string("description", in: doc, context: "manifest: ") ?? ""

        var tools: [Tool] = []
        var unchecked: [String] = []
        var seen = Set<String>()
        switch doc["tools"] {
        case .array(let entries)?:
            for (i, entry) in entries.enumerated() {
                guard case .object(let t) = entry else {
                    problems.append("manifest: tools[\(i)] must be a table")
                    continue
                }
                let toolName = string("name", in: t, context: "manifest: tools[\(i)]: ") ?? ""
                let ctx = "manifest: tool '\(toolName.isEmpty ? "#\(i)" : toolName)': "
                if !toolName.isEmpty {
                    if !Naming.isToolName(toolName) {
                        problems.append("\(ctx)name must be 1–64 characters of A-Z, a-z, 0-9, '_' and '-'")
                    }
                    if !seen.insert(toolName).inserted { problems.append("\(ctx)declared twice") }
                }
                let desc = string("description", in: t, context: ctx) ?? ""
                let title = string("title", in: t, context: ctx, required: false)
                let accessText = string("access", in: t, context: ctx) ?? "read"
                let access = Access(rawValue: accessText)
                if access == nil { problems.append("\(ctx)access must be \"read\" or \"write\", not '\(accessText)'") }
                let input = schema("input_schema", in: t, context: ctx, required: true, problems: &problems)
                let output = schema("output_schema", in: t, context: ctx, required: false, problems: &problems)
                var validator = try? JSONSchemaValidator(.object(["type": "object"]))
                if let input {
                    do {
                        validator = try JSONSchemaValidator(input)
                        if let v = validator, !v.unsupportedKeywords.isEmpty {
                            // Not checked by the core: the plugin must check these itself.
                            unchecked.append("\(ctx)input_schema keywords the core does not check: \(v.unsupportedKeywords.joined(separator: ", "))")
                        }
                    } catch {
                        problems += error.problems.map { "\(ctx)input_schema \($0)" }
                    }
                }
                var outputValidator: JSONSchemaValidator?
                if let output {
                    do {
                        let v = try JSONSchemaValidator(output, rootName: "structuredContent")
                        outputValidator = v
                        if !v.unsupportedKeywords.isEmpty {
                            unchecked.append("\(ctx)output_schema keywords the core does not check: \(v.unsupportedKeywords.joined(separator: ", "))")
                        }
                    } catch {
                        problems += error.problems.map { "\(ctx)output_schema \($0)" }
                    }
                }
                tools.append(Tool(name: toolName, title: title, description: desc, access: access ?? .read,
                                  inputSchema: input ?? .object([:]), outputSchema: output, validator: validator!,
                                  outputValidator: outputValidator))
            }
        case nil:
            break
        default:
            problems.append("manifest: tools must be an array of tables ([[tools]])")
        }

        let capabilities = CapabilityRequest.parseAll(doc["capabilities"], problems: &problems)
        let (resources, templates, prompts) = parseResources(doc, plugin: Naming.isPluginName(name) ? name : "",
                                                             problems: &problems)
        var resourceList = false
        switch doc["resource_list"] {
        case nil: break
        case .bool(let b)?: resourceList = b
        default: problems.append("manifest: resource_list must be true or false")
        }
        if resourceList && templates.isEmpty && resources.isEmpty {
            problems.append("manifest: resource_list = true, but no [[resources]] or [[resource_templates]] say which URIs a listed resource may have")
        }
        if tools.isEmpty && resources.isEmpty && templates.isEmpty && prompts.isEmpty && problems.isEmpty {
            problems.append("manifest: no [[tools]], [[resources]], [[resource_templates]] or [[prompts]]: a plugin serves at least one")
        }

        guard problems.isEmpty, let abi else { throw LoadProblems(problems) }
        var manifest = PluginManifest(name: name, version: version, abi: abi, library: library,
                                      description: description, tools: tools, capabilities: capabilities,
                                      notes: unchecked)
        manifest.resources = resources
        manifest.resourceTemplates = templates
        manifest.prompts = prompts
        manifest.resourceList = resourceList
        return manifest
    }

    /// A JSON Schema given as a TOML table, or as a string of JSON text.
    private static func schema(_ key: String, in t: JSONObject, context: String, required: Bool,
                               problems: inout [String]) -> JSONValue? {
        var value = t[key]
        if case .string(let text)? = value {
            do {
                value = try JSONValue.parse(Array(text.utf8))
            } catch {
                problems.append("\(context)\(key) is not valid JSON: \(error)")
                return nil
            }
        }
        guard let value else {
            if required { problems.append("\(context)\(key) is missing") }
            return nil
        }
        guard case .object(let obj) = value, obj["type"] == .string("object") else {
            problems.append("\(context)\(key) must be a JSON Schema object with type = \"object\" (MCP requires it)")
            return nil
        }
        return value
    }
}

/// Names the core accepts for plugins and tools. Plugin names never hold `__`
/// nor end with `_`, which keeps served names collision-free (see ``ToolNaming``).
enum Naming {
    static func isPluginName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...64).contains(u.count), let first = u.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        let underscore = UInt8(ascii: "_")
        guard u.last != underscore, !zip(u, u.dropFirst()).contains(where: { $0 == underscore && $1 == underscore }) else {
            return false
        }
        return u.allSatisfy { isLower($0) || isDigit($0) || $0 == underscore || $0 == UInt8(ascii: "-") }
    }

    static func isToolName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...64).contains(u.count) else { return false }
        return u.allSatisfy {
            isLower($0) || isDigit($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
                || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    private static func isLower(_ c: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) }
    private static func isDigit(_ c: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) }
}

/// One or more reasons a plugin folder cannot be loaded.
public struct LoadProblems: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "; ") }
}
