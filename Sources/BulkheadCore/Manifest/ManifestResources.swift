import BulkheadProtocol

/// The manifest's `[[resources]]`, `[[resource_templates]]` and `[[prompts]]`
/// (ABI 1.1): what a plugin serves beside its tools.
extension PluginManifest {
    /// One fixed resource: `[[resources]]`.
    public struct Resource: Sendable {
        public var uri: String
        public var name: String
        public var title: String?
        public var description: String?
        public var mimeType: String?
        /// Raw bytes, when known.
        public var size: Int64?
        /// `ttl_ms`: how long a client may cache a read (2026-07-28 `ttlMs`); nil: 0.
        public var ttlMilliseconds: Int64? = nil
    }

    /// One RFC 6570 resource template: `[[resource_templates]]`.
    public struct ResourceTemplate: Sendable {
        public var uriTemplate: String
        public var template: URITemplate
        public var name: String
        public var title: String?
        public var description: String?
        public var mimeType: String?
        public var ttlMilliseconds: Int64?
        /// Each variable's declared constraint, as a JSON Schema for a string.
        public var variables: JSONObject
        /// Variables as the arguments of the read: a JSON Schema object, and its validator.
        public var inputSchema: JSONValue
        public var validator: JSONSchemaValidator
        /// `complete = true`: the plugin registers a completion function for its variables.
        public var completes = false
    }

    /// One prompt: `[[prompts]]` with its `[[prompts.arguments]]`.
    public struct Prompt: Sendable {
        public struct Argument: Sendable {
            public var name: String
            public var title: String?
            public var description: String?
            public var required: Bool
        }
        public var name: String
        public var title: String?
        public var description: String?
        public var arguments: [Argument]
        public var inputSchema: JSONValue
        public var validator: JSONSchemaValidator
        /// `complete = true`: the plugin registers a completion function for its arguments.
        public var completes = false
    }

    /// The URI scheme a plugin's resources use: its name with `_` written `.`
    /// (a scheme may hold `.` and `-` but not `_`, and a plugin name holds no
    /// `.`, so the mapping is reversible).
    public static func scheme(ofPlugin name: String) -> String {
        String(name.map { $0 == "_" ? "." : $0 })
    }

    /// The plugin a URI belongs to, by its scheme (`docs:` or `docs+https:`), compared
    /// case-insensitively as RFC 3986 asks; nil when the URI has no valid scheme.
    public static func pluginScheme(ofURI uri: String) -> String? {
        guard let colon = uri.utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let scheme = uri.utf8[..<colon]
        guard let first = scheme.first, isAlpha(first),
              scheme.allSatisfy({ isAlpha($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E })
        else { return nil }
        let lower = String(decoding: scheme.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
        return String(lower.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)[0])
    }

    private static func isAlpha(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    /// Largest decoded variable or prompt argument the core passes on.
    static let variableMaxLength = 1024

    static func parseResources(_ doc: JSONObject, plugin: String, problems: inout [String])
        -> (resources: [Resource], templates: [ResourceTemplate], prompts: [Prompt])
    {
        let scheme = scheme(ofPlugin: plugin)
        func ownScheme(_ uri: String, _ ctx: String) {
            guard !plugin.isEmpty else { return }
            if pluginScheme(ofURI: uri) != scheme {
                problems.append("\(ctx)'\(uri)' must use the plugin's own scheme '\(scheme):' (or '\(scheme)+…:'), so that no two plugins serve one URI")
            } else if uri.prefix(while: { $0 != ":" }).contains(where: { $0.isUppercase }) {
                problems.append("\(ctx)'\(uri)': write the scheme in lower case")
            }
        }
        var names = Set<String>()
        func entries(_ key: String) -> [(Int, JSONObject)] {
            switch doc[key] {
            case nil: return []
            case .array(let items)?:
                var out: [(Int, JSONObject)] = []
                for (i, item) in items.enumerated() {
                    if case .object(let t) = item { out.append((i, t)) } else { problems.append("manifest: \(key)[\(i)] must be a table") }
                }
                return out
            default:
                problems.append("manifest: \(key) must be an array of tables ([[\(key)]])")
                return []
            }
        }
        func string(_ t: JSONObject, _ key: String, _ ctx: String, required: Bool = false) -> String? {
            switch t[key] {
            case .string(let s)? where !s.isEmpty: return s
            case nil: if required { problems.append("\(ctx)'\(key)' is missing") }
            default: problems.append("\(ctx)'\(key)' must be a non-empty string")
            }
            return nil
        }
        func unknownKeys(_ t: JSONObject, _ known: [String], _ ctx: String) {
            for k in t.keys.sorted() where !known.contains(k) {
                problems.append("\(ctx)unknown key '\(k)' (known: \(known.joined(separator: ", ")))")
            }
        }
        func mimeType(_ t: JSONObject, _ ctx: String) -> String? {
            guard let m = string(t, "mime_type", ctx) else { return nil }
            let parts = m.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count != 2 || parts.contains(where: \.isEmpty) || m.contains(where: { $0.isWhitespace || $0.asciiValue == nil }) {
                problems.append("\(ctx)mime_type '\(m)' must look like \"text/markdown\"")
            }
            return m
        }
        func ttl(_ t: JSONObject, _ ctx: String) -> Int64? {
            guard let v = t["ttl_ms"] else { return nil }
            guard let n = v.intValue, n >= 0 else {
                problems.append("\(ctx)ttl_ms must be a whole number of milliseconds, 0 or more")
                return nil
            }
            return n
        }
        func flag(_ t: JSONObject, _ key: String, _ ctx: String) -> Bool {
            switch t[key] {
            case nil: return false
            case .bool(let b)?: return b
            default:
                problems.append("\(ctx)\(key) must be true or false")
                return false
            }
        }
        func uniqueName(_ n: String, _ ctx: String) {
            if !names.insert(n).inserted { problems.append("\(ctx)name '\(n)' is used twice among resources and templates") }
        }

        var resources: [Resource] = []
        var uris = Set<String>()
        for (i, t) in entries("resources") {
            let uri = string(t, "uri", "manifest: resources[\(i)]: ", required: true) ?? ""
            let ctx = "manifest: resource '\(uri.isEmpty ? "#\(i)" : uri)': "
            unknownKeys(t, ["description", "mime_type", "name", "size", "title", "ttl_ms", "uri"], ctx)
            if !uri.isEmpty {
                ownScheme(uri, ctx + "uri ")
                if uri.contains(where: { $0 == "{" || $0 == "}" }) { problems.append("\(ctx)a uri with { } is a template: declare it in [[resource_templates]]") }
                if !uri.utf8.allSatisfy({ URITemplate.isURIByte($0) && $0 != UInt8(ascii: "{") && $0 != UInt8(ascii: "}") }) {
                    problems.append("\(ctx)uri holds characters a URI may not (write them percent-encoded)")
                }
                if !uris.insert(uri).inserted { problems.append("\(ctx)declared twice") }
            }
            let name = string(t, "name", ctx, required: true) ?? ""
            if !name.isEmpty { uniqueName(name, ctx) }
            var size: Int64?
            if let v = t["size"] {
                if let n = v.intValue, n >= 0 { size = n } else { problems.append("\(ctx)size must be a whole number of bytes, 0 or more") }
            }
            resources.append(Resource(uri: uri, name: name, title: string(t, "title", ctx),
                                      description: string(t, "description", ctx), mimeType: mimeType(t, ctx), size: size,
                                      ttlMilliseconds: ttl(t, ctx)))
        }

        var templates: [ResourceTemplate] = []
        var templateTexts = Set<String>()
        for (i, t) in entries("resource_templates") {
            let text = string(t, "uri_template", "manifest: resource_templates[\(i)]: ", required: true) ?? ""
            let ctx = "manifest: resource template '\(text.isEmpty ? "#\(i)" : text)': "
            unknownKeys(t, ["complete", "description", "mime_type", "name", "title", "ttl_ms", "uri_template", "variables"], ctx)
            var template: URITemplate?
            if !text.isEmpty {
                ownScheme(text, ctx + "uri_template ")
                if !templateTexts.insert(text).inserted || uris.contains(text) { problems.append("\(ctx)declared twice") }
                do {
                    let parsed = try URITemplate(text)
                    if parsed.isFixed {
                        problems.append("\(ctx)has no {variable}: declare a fixed URI in [[resources]]")
                    } else {
                        template = parsed
                    }
                } catch {
                    problems.append("\(ctx)\(error.message)")
                }
            }
            let name = string(t, "name", ctx, required: true) ?? ""
            if !name.isEmpty { uniqueName(name, ctx) }
            var declared: JSONObject = [:]
            switch t["variables"] {
            case nil: break
            case .object(let o)?: declared = o
            default: problems.append("\(ctx)variables must be a table ([resource_templates.variables.NAME])")
            }
            var variables = JSONObject()
            var required: [JSONValue] = []
            if let template {
                let queryOrFragment = Set(template.optionalVariables)
                for v in template.variables {
                    let spec = variableSchema(declared[v], "\(ctx)variables.\(v): ", problems: &problems)
                    variables[v] = spec
                    if !queryOrFragment.contains(v) { required.append(.string(v)) }
                }
                for k in declared.keys.sorted() where !template.variables.contains(k) {
                    problems.append("\(ctx)variables.\(k): the template has no variable '\(k)' (it has \(template.variables.joined(separator: ", ")))")
                }
            }
            let schema: JSONValue = .object([
                "type": "object", "additionalProperties": false,
                "properties": .object(variables), "required": .array(required),
            ])
            guard let template, let validator = try? JSONSchemaValidator(schema) else { continue }
            templates.append(ResourceTemplate(uriTemplate: text, template: template, name: name, title: string(t, "title", ctx),
                                              description: string(t, "description", ctx), mimeType: mimeType(t, ctx),
                                              ttlMilliseconds: ttl(t, ctx), variables: variables, inputSchema: schema, validator: validator,
                                              completes: flag(t, "complete", ctx)))
        }

        var prompts: [Prompt] = []
        var promptNames = Set<String>()
        for (i, t) in entries("prompts") {
            let name = string(t, "name", "manifest: prompts[\(i)]: ", required: true) ?? ""
            let ctx = "manifest: prompt '\(name.isEmpty ? "#\(i)" : name)': "
            unknownKeys(t, ["arguments", "complete", "description", "name", "title"], ctx)
            if !name.isEmpty {
                if !Naming.isToolName(name) { problems.append("\(ctx)name must be 1–64 characters of A-Z, a-z, 0-9, '_' and '-'") }
                if !promptNames.insert(name).inserted { problems.append("\(ctx)declared twice") }
            }
            var arguments: [Prompt.Argument] = []
            var properties: JSONObject = [:]
            var required: [JSONValue] = []
            switch t["arguments"] {
            case nil: break
            case .array(let items)?:
                for (j, item) in items.enumerated() {
                    guard case .object(let a) = item else {
                        problems.append("\(ctx)arguments[\(j)] must be a table ([[prompts.arguments]])")
                        continue
                    }
                    let actx = "\(ctx)arguments[\(j)]: "
                    unknownKeys(a, ["description", "enum", "name", "pattern", "required", "title"], actx)
                    guard let an = string(a, "name", actx, required: true) else { continue }
                    if !Naming.isToolName(an) { problems.append("\(actx)name must be 1–64 characters of A-Z, a-z, 0-9, '_' and '-'") }
                    if properties[an] != nil { problems.append("\(actx)'\(an)' declared twice") }
                    var req = false
                    if let r = a["required"] {
                        if case .bool(let b) = r { req = b } else { problems.append("\(actx)required must be true or false") }
                    }
                    var spec = JSONObject()
                    for (k, v) in a where !["name", "required", "title"].contains(k) { spec[k] = v }
                    properties[an] = variableSchema(.object(spec), actx, problems: &problems)
                    if req { required.append(.string(an)) }
                    arguments.append(.init(name: an, title: string(a, "title", actx), description: string(a, "description", actx),
                                           required: req))
                }
            default: problems.append("\(ctx)arguments must be an array of tables ([[prompts.arguments]])")
            }
            let schema: JSONValue = .object([
                "type": "object", "additionalProperties": false, "properties": .object(properties), "required": .array(required),
            ])
            guard let validator = try? JSONSchemaValidator(schema) else { continue }
            prompts.append(Prompt(name: name, title: string(t, "title", ctx), description: string(t, "description", ctx),
                                  arguments: arguments, inputSchema: schema, validator: validator,
                                  completes: flag(t, "complete", ctx)))
        }
        return (resources, templates, prompts)
    }

    /// A variable or prompt argument: always a string of at most ``variableMaxLength``
    /// bytes, narrowed by a declared `pattern` (anchored by the author, as JSON Schema
    /// leaves patterns unanchored) or `enum` of strings.
    private static func variableSchema(_ declared: JSONValue?, _ ctx: String, problems: inout [String]) -> JSONValue {
        var schema: JSONObject = ["type": "string", "maxLength": .int(Int64(variableMaxLength))]
        guard let declared else { return .object(schema) }
        guard case .object(let o) = declared else {
            problems.append("\(ctx)must be a table with pattern = \"…\" or enum = [\"…\"]")
            return .object(schema)
        }
        for (k, v) in o {
            switch k {
            case "pattern":
                guard case .string(let p) = v else { problems.append("\(ctx)pattern must be a string"); continue }
                if !p.hasPrefix("^") || !p.hasSuffix("$") {
                    problems.append("\(ctx)pattern '\(p)' must be anchored with ^ and $ (an unanchored pattern matches inside any value)")
                }
                schema["pattern"] = v
            case "enum":
                guard case .array(let items) = v, !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }) else {
                    problems.append("\(ctx)enum must be a non-empty array of strings"); continue
                }
                schema["enum"] = v
            case "description":
                schema["description"] = v
            default:
                problems.append("\(ctx)unknown key '\(k)' (known: description, enum, pattern)")
            }
        }
        if let validator = try? JSONSchemaValidator(.object(["type": "object", "properties": ["v": .object(schema)]])),
           !validator.unsupportedKeywords.isEmpty {
            problems.append("\(ctx)the core cannot check \(validator.unsupportedKeywords.joined(separator: ", "))")
        } else if (try? JSONSchemaValidator(.object(["type": "object", "properties": ["v": .object(schema)]]))) == nil {
            problems.append("\(ctx)pattern is not a regular expression the core can check")
        }
        return .object(schema)
    }
}

extension URITemplate {
    /// The variables a URI may leave out: the query's and the fragment's.
    public var optionalVariables: [String] {
        parts.flatMap { part -> [String] in
            if case .expression(let op, let names) = part, op == .query || op == .continuation || op == .fragment { return names }
            return []
        }
    }
}
