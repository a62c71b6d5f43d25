/// The name a registered function is kept under, one table for every kind: a
/// tool's name as it is, the others behind a control character no tool name,
/// URI or prompt name can hold. The worker tier uses the same keys on its
/// channel (BHW_REGISTER, BHW_CALL), so both tiers agree without a new op.
enum FunctionKey {
    static func tool(_ name: String) -> String { name }
    static func resource(_ uriOrTemplate: String) -> String { "\u{1}" + uriOrTemplate }
    static func prompt(_ name: String) -> String { "\u{2}" + name }
    static let resourceList = "\u{3}list"
    /// The completion function of a prompt (its name) or a resource template (its text).
    static func completion(_ ref: String) -> String { "\u{4}" + ref }

    /// For messages: "tool 'x'", "resource 'docs://a'", "prompt 'p'", "the resource list function".
    static func describe(_ key: String) -> String {
        switch key.unicodeScalars.first {
        case "\u{1}": "resource '\(key.dropFirst())'"
        case "\u{2}": "prompt '\(key.dropFirst())'"
        case "\u{3}": "the resource list function (resource_list)"
        case "\u{4}": "the completion function of '\(key.dropFirst())' (complete = true)"
        default: "tool '\(key)'"
        }
    }

    /// Every key a manifest declares, in its order: what init must register.
    static func declared(by manifest: PluginManifest) -> [String] {
        manifest.tools.map { tool($0.name) }
            + manifest.resources.map { resource($0.uri) }
            + manifest.resourceTemplates.map { resource($0.uriTemplate) }
            + manifest.prompts.map { prompt($0.name) }
            + (manifest.resourceList ? [resourceList] : [])
            + manifest.resourceTemplates.filter(\.completes).map { completion($0.uriTemplate) }
            + manifest.prompts.filter(\.completes).map { completion($0.name) }
    }
}
