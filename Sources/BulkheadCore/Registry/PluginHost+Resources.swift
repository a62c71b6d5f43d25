import BulkheadProtocol
import Synchronization

/// One plugin's resources: fixed URIs, templates in manifest order, and its list function.
struct PluginResources: Sendable {
    let plugin: PluginInstance
    var fixed: [ExactKey: ServedEntry] = [:]
    var fixedOrder: [ServedEntry] = []
    var templates: [(template: URITemplate, entry: ServedEntry)] = []
    var list: ServedEntry?
}

extension CallKind {
    var primitive: Primitive {
        switch self {
        case .tool: .tool
        case .read, .list: .resource
        case .prompt: .prompt
        case .completion: .prompt
        }
    }
}

/// Resources and prompts: what each caller may list, and reads and gets through the gate.
extension PluginHost: ResourceReadability {
    public var servesResources: Bool { !resourceIndex.isEmpty }
    public var servesPrompts: Bool { !prompts.isEmpty }

    static func resourceEntries(_ plugins: [PluginInstance])
        -> ([String: PluginResources], [ExactKey: ServedEntry], [ServedEntry])
    {
        var index: [String: PluginResources] = [:]
        var prompts: [ExactKey: ServedEntry] = [:]
        var orderedPrompts: [ServedEntry] = []
        let limits = { (p: PluginInstance) in p.policy.access.effectiveLimits(for: "") }
        func entry(_ plugin: PluginInstance, _ primitive: Primitive, name: String, key: String, title: String?,
                   description: String?, schema: JSONValue, validator: JSONSchemaValidator, mimeType: String? = nil,
                   ttl: Int64? = nil, served: String, listing: JSONObject? = nil) -> ServedEntry? {
            guard let fn = plugin.tools[exactly: key] else { return nil }
            let tool = PluginManifest.Tool(name: name, title: title, description: description ?? "", access: .read,
                                           inputSchema: schema, outputSchema: nil, validator: validator)
            return ServedEntry(plugin: plugin, tool: tool, function: fn,
                               descriptor: ToolDescriptor(name: served, inputSchema: schema), limits: limits(plugin),
                               clamps: nil, rateKey: "*", concurrencyKey: "*", primitive: primitive, policyName: name,
                               functionKey: key, mimeType: mimeType, ttlMilliseconds: ttl,
                               listing: listing.map { o in
                                   var o = o
                                   if let title { o["title"] = .string(title) }
                                   if let description { o["description"] = .string(description) }
                                   if let mimeType { o["mimeType"] = .string(mimeType) }
                                   o["_meta"] = ["bulkhead/plugin": .string(plugin.name)]
                                   return .object(o)
                               })
        }
        let fixedSchema: JSONValue = ["type": "object", "additionalProperties": false]
        let fixedValidator = try! JSONSchemaValidator(fixedSchema)
        for plugin in plugins.sorted(by: { $0.name < $1.name }) {
            let m = plugin.manifest
            if !m.resources.isEmpty || !m.resourceTemplates.isEmpty {
                var r = PluginResources(plugin: plugin)
                for res in m.resources {
                    var listed: JSONObject = ["uri": .string(res.uri), "name": .string(res.name)]
                    if let size = res.size { listed["size"] = .int(size) }
                    if let e = entry(plugin, .resource, name: res.uri, key: FunctionKey.resource(res.uri), title: res.title,
                                     description: res.description, schema: fixedSchema, validator: fixedValidator,
                                     mimeType: res.mimeType, ttl: res.ttlMilliseconds, served: res.uri, listing: listed) {
                        r.fixed[exactly: res.uri] = e
                        r.fixedOrder.append(e)
                    }
                }
                for t in m.resourceTemplates {
                    if let e = entry(plugin, .resource, name: t.uriTemplate, key: FunctionKey.resource(t.uriTemplate),
                                     title: t.title, description: t.description, schema: t.inputSchema,
                                     validator: t.validator, mimeType: t.mimeType, ttl: t.ttlMilliseconds,
                                     served: t.uriTemplate,
                                     listing: ["uriTemplate": .string(t.uriTemplate), "name": .string(t.name)]) {
                        r.templates.append((t.template, e))
                    }
                }
                if m.resourceList {
                    r.list = entry(plugin, .resource, name: "*", key: FunctionKey.resourceList, title: nil,
                                   description: nil, schema: fixedSchema, validator: fixedValidator, served: "*")
                }
                index[PluginManifest.scheme(ofPlugin: plugin.name)] = r
            }
            for prompt in m.prompts.sorted(by: { $0.name < $1.name }) {
                let served = plugin.servedName(prompt.name)
                if let e = entry(plugin, .prompt, name: prompt.name, key: FunctionKey.prompt(prompt.name),
                                 title: prompt.title, description: prompt.description, schema: prompt.inputSchema,
                                 validator: prompt.validator, served: served,
                                 listing: Self.promptListing(prompt, served: served)) {
                    prompts[exactly: served] = e
                    orderedPrompts.append(e)
                }
            }
        }
        return (index, prompts, orderedPrompts)
    }

    /// The entry serving `uri` and the variables it binds: a fixed URI first, then
    /// the plugin's templates in manifest order. The scheme finds the plugin.
    func resolve(_ uri: String) -> (entry: ServedEntry, variables: JSONObject, uri: String)? {
        guard let scheme = PluginManifest.pluginScheme(ofURI: uri), let r = resourceIndex[scheme] else { return nil }
        // The scheme compares case-insensitively (RFC 3986); the rest exactly.
        let colon = uri.utf8.firstIndex(of: UInt8(ascii: ":"))!
        let canonical = String(decoding: uri.utf8[..<colon].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
            + String(uri[colon...])
        if let e = r.fixed[exactly: canonical] { return (e, [:], canonical) }
        for (template, e) in r.templates {
            if let values = template.match(canonical) {
                var args = JSONObject()
                for name in template.variables { if let v = values[name] { args[name] = .string(v) } }
                return (e, args, canonical)
            }
        }
        return nil
    }

    /// Whether `principal` may read `uri` and it belongs to `plugin`, with its MIME type.
    func readable(_ uri: String, in plugin: PluginInstance, by principal: Principal) -> (mimeType: String?, allowed: Bool) {
        guard let (entry, variables, _) = resolve(uri), entry.plugin === plugin,
              entry.plugin.policy.access.allows(principal, .resource, entry.policyName),
              entry.tool.validator.validate(.object(variables), limit: 1).isEmpty
        else { return (nil, false) }
        return (entry.mimeType, true)
    }

    public func readResource(uri: String, context: RequestContext,
                             complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        let resolved = resolve(uri)
        // Variables that fail their declared pattern name no resource: answered exactly
        // as one that does not exist, as is a plugin's not_found ("not this caller's").
        let name = resolved?.entry.policyName ?? "(unknown resource)"
        let ttl = resolved?.entry.ttlMilliseconds
        return pass(resolved?.entry, name: name, arguments: resolved?.variables ?? [:],
                    kind: .read(uri: resolved?.uri ?? uri, mimeType: resolved?.entry.mimeType), context: context) { outcome in
            guard case .result(var result) = outcome else { return complete(outcome) }
            if result.isError {
                return complete(Self.primitiveError(result, notFound: .unknownTool(uri)))
            }
            result.ttlMilliseconds = ttl
            complete(.result(result))
        }
    }

    public func getPrompt(name: String, arguments: JSONObject, context: RequestContext,
                          complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        let entry = prompts[exactly: name]
        return pass(entry, name: name, arguments: arguments, kind: .prompt, context: context) { outcome in
            guard case .result(var result) = outcome else { return complete(outcome) }
            if result.isError {
                if result.structuredContent?["kind"] == "invalid_argument" || result.structuredContent?["kind"] == "not_found" {
                    let message = result.structuredContent?["message"]?.stringValue ?? "invalid arguments"
                    return complete(.error(.invalidParams("\(name): \(message)")))
                }
                return complete(Self.primitiveError(result, notFound: .unknownTool(name)))
            }
            if let description = entry?.tool.description, !description.isEmpty {
                result.structuredContent = .string(description)
            }
            complete(.result(result))
        }
    }

    /// A failed read or get as a JSON-RPC error: not_found and invalid_argument as
    /// "no such", every other kind -32603 naming it.
    private static func primitiveError(_ result: ToolResult, notFound: ToolCallOutcome) -> ToolCallOutcome {
        let kind = result.structuredContent?["kind"]?.stringValue ?? "internal"
        if kind == "not_found" || kind == "invalid_argument" { return notFound }
        let message = result.structuredContent?["message"]?.stringValue ?? kind
        var data: JSONObject = ["kind": .string(kind)]
        if let retry = result.structuredContent?["retryAfterMs"] { data["retryAfterMs"] = retry }
        return .error(JSONRPCErrorObject(code: -32603, message: message, data: .object(data)))
    }

    public func resourceTemplates(for context: RequestContext) -> [JSONValue] {
        let principal = self.principal(of: context)
        return resourceIndex.keys.sorted().flatMap { scheme -> [JSONValue] in
            let r = resourceIndex[scheme]!
            guard r.plugin.runtime.serving else { return [] }
            return r.templates.compactMap { t in
                r.plugin.policy.access.allows(principal, .resource, t.entry.policyName) ? t.entry.listing : nil
            }
        }
    }

    public func prompts(for context: RequestContext) -> [JSONValue] {
        let principal = self.principal(of: context)
        return orderedPrompts.compactMap { e in
            e.plugin.runtime.serving && e.plugin.policy.access.allows(principal, .prompt, e.policyName) ? e.listing : nil
        }
    }

    /// A prompt's entry in prompts/list (title, description and _meta are added with the rest).
    private static func promptListing(_ p: PluginManifest.Prompt, served: String) -> JSONObject {
        var o: JSONObject = ["name": .string(served)]
        if !p.arguments.isEmpty {
            o["arguments"] = .array(p.arguments.map { a in
                var ao: JSONObject = ["name": .string(a.name), "required": .bool(a.required)]
                if let v = a.title { ao["title"] = .string(v) }
                if let v = a.description { ao["description"] = .string(v) }
                return .object(ao)
            })
        }
        return o
    }

    /// Every resource the caller may read: fixed ones as declared, and what each
    /// plugin's list function returns for it, kept only where the URI is declared
    /// and readable. Sorted by URI, so pages and cursors are stable.
    public func listResources(context: RequestContext,
                              complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        let principal = self.principal(of: context)
        var fixed: [JSONValue] = []
        var listers: [(PluginResources, ServedEntry)] = []
        for scheme in resourceIndex.keys.sorted() {
            let r = resourceIndex[scheme]!
            guard r.plugin.runtime.serving else { continue }
            for e in r.fixedOrder where r.plugin.policy.access.allows(principal, .resource, e.policyName) {
                if let listing = e.listing { fixed.append(listing) }
            }
            if let list = r.list { listers.append((r, list)) }
        }
        guard !listers.isEmpty else {
            complete(.result(ToolResult(content: Self.sortedByURI(fixed))))
            return nil
        }
        let gathered = Mutex((pending: listers.count, items: fixed))
        for (r, list) in listers {
            let plugin = r.plugin
            _ = pass(list, name: "(resource list)", arguments: [:], kind: .list, context: context) { [self] outcome in
                var kept: [JSONValue] = []
                if case .result(let result) = outcome, !result.isError {
                    for var item in result.content.prefix(Self.listLimit) {
                        guard let uri = item["uri"]?.stringValue, readable(uri, in: plugin, by: principal).allowed,
                              resolve(uri).map({ r.fixed[exactly: $0.entry.policyName] == nil }) ?? false
                        else { continue }
                        if case .object(var o) = item {
                            o["_meta"] = ["bulkhead/plugin": .string(plugin.name)]
                            item = .object(o)
                        }
                        kept.append(item)
                    }
                } else if case .unknownTool = outcome {
                    // The caller may read none of this plugin's resources: nothing to list.
                } else {
                    logger.warning("plugin '\(plugin.name)' resource list failed; its listed resources are left out of this resources/list")
                }
                let done: [JSONValue]? = gathered.withLock { g in
                    g.items += kept
                    g.pending -= 1
                    return g.pending == 0 ? g.items : nil
                }
                if let done { complete(.result(ToolResult(content: Self.sortedByURI(done)))) }
            }
        }
        return nil
    }

    /// Most entries one plugin's list function contributes.
    static let listLimit = 10_000

    private static func sortedByURI(_ items: [JSONValue]) -> [JSONValue] {
        items.sorted { ($0["uri"]?.stringValue ?? "").utf8.lexicographicallyPrecedes(($1["uri"]?.stringValue ?? "").utf8) }
    }
}

/// completion/complete: an argument's enum, or the plugin's completion function, through the gate.
extension PluginHost {
    public var servesCompletions: Bool { !prompts.isEmpty || resourceIndex.values.contains { !$0.templates.isEmpty } }

    /// Completion functions by FunctionKey.completion(ref), as entries that pass the gate as their target does.
    static func completionEntries(_ plugins: [PluginInstance]) -> [ExactKey: ServedEntry] {
        var out: [ExactKey: ServedEntry] = [:]
        let schema: JSONValue = [
            "type": "object", "required": ["argument", "value"],
            "properties": ["argument": ["type": "string"], "value": ["type": "string"], "context": ["type": "object"]],
        ]
        let validator = try! JSONSchemaValidator(schema)
        for plugin in plugins {
            let m = plugin.manifest
            let refs = m.prompts.filter(\.completes).map { (Primitive.prompt, $0.name) }
                + m.resourceTemplates.filter(\.completes).map { (Primitive.resource, $0.uriTemplate) }
            for (primitive, ref) in refs {
                let key = FunctionKey.completion(ref)
                guard let fn = plugin.tools[exactly: key] else { continue }
                let tool = PluginManifest.Tool(name: ref, title: nil, description: "", access: .read, inputSchema: schema,
                                               outputSchema: nil, validator: validator)
                out[exactly: key + "\u{0}" + plugin.name] = ServedEntry(
                    plugin: plugin, tool: tool, function: fn, descriptor: ToolDescriptor(name: ref, inputSchema: schema),
                    limits: plugin.policy.access.effectiveLimits(for: ""), clamps: nil, rateKey: "*", concurrencyKey: "*",
                    primitive: primitive, policyName: ref, functionKey: key)
            }
        }
        return out
    }

    public func complete(_ reference: CompletionReference, argument: String, value: String, contextArguments: JSONObject,
                         context: RequestContext,
                         complete: @escaping @Sendable (ToolCallOutcome) -> Void) -> (any ToolCallCancellation)? {
        let principal = self.principal(of: context)
        // The target first: what the caller may not use it gets no completions for.
        let target: ServedEntry?
        let name: String
        switch reference {
        case .prompt(let n):
            target = prompts[exactly: n]
            name = n
        case .resourceTemplate(let t):
            name = t
            target = PluginManifest.pluginScheme(ofURI: t).flatMap { resourceIndex[$0] }?
                .templates.first { $0.entry.policyName.isExactly(t) }?.entry
        }
        guard let target, target.plugin.runtime.serving,
              target.plugin.policy.access.allows(principal, target.primitive, target.policyName) else {
            complete(.unknownTool(name))
            return nil
        }
        guard let spec = target.tool.inputSchema["properties"]?[argument] else {
            complete(.error(.invalidParams("\(name) has no argument '\(argument)'")))
            return nil
        }
        // Whatever is suggested must be a value the argument accepts.
        let accepts = try? JSONSchemaValidator(["type": "object", "properties": [argument: spec]])
        @Sendable func keep(_ values: [JSONValue]) -> [JSONValue] {
            values.filter { v in
                guard let s = v.stringValue else { return false }
                return accepts?.validate(.object([argument: .string(s)]), limit: 1).isEmpty ?? false
            }
        }
        if case .array(let choices)? = spec["enum"] {
            complete(.result(ToolResult(content: keep(choices.filter { $0.stringValue?.hasPrefix(value) ?? false }))))
            return nil
        }
        guard let function = completions[exactly: FunctionKey.completion(target.policyName) + "\u{0}" + target.plugin.name] else {
            complete(.result(ToolResult(content: [])))
            return nil
        }
        let arguments: JSONObject = ["argument": .string(argument), "value": .string(value),
                                     "context": .object(contextArguments)]
        return pass(function, name: "completion of \(name)", arguments: arguments, kind: .completion, context: context) { outcome in
            guard case .result(let result) = outcome else { return complete(outcome) }
            if result.isError {
                let message = result.structuredContent?["message"]?.stringValue ?? "the completion failed"
                return complete(.error(JSONRPCErrorObject(code: -32603, message: message,
                                                          data: .object(["kind": result.structuredContent?["kind"] ?? "internal"]))))
            }
            complete(.result(ToolResult(content: keep(result.content))))
        }
    }
}
