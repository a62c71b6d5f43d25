import BulkheadProtocol

/// One thing a plugin serves through the gate (a tool, a resource or resource
/// template, a prompt), with what its policy sets for it resolved once.
/// A class, not a struct: it is captured by every call's closures, and a
/// reference is one retain where a copy of all these fields is dozens.
final class ServedEntry: Sendable {
    let plugin: PluginInstance
    let tool: PluginManifest.Tool
    let function: RegisteredTool
    let descriptor: ToolDescriptor
    /// What the plugin's policy sets for this tool, resolved once.
    let limits: Limits.Effective
    let clamps: Set<ExactKey>?
    /// Counter keys: the tool's own when its [limits.<tool>] sets the limit, else the plugin's.
    let rateKey: String
    let concurrencyKey: String
    /// Which primitive, the name its policy rules use (a tool's name, a resource's URI
    /// or template as the manifest writes it, a prompt's name), and its function's key.
    let primitive: Primitive
    let policyName: String
    let functionKey: String
    /// Resources: the manifest's MIME type and stated freshness.
    let mimeType: String?
    let ttlMilliseconds: Int64?
    /// Resources and prompts: the entry in resources/list, resources/templates/list or
    /// prompts/list, rendered once at load (the lists only filter per caller).
    let listing: JSONValue?

    init(plugin: PluginInstance, tool: PluginManifest.Tool, function: RegisteredTool, descriptor: ToolDescriptor,
         limits: Limits.Effective, clamps: Set<ExactKey>?, rateKey: String, concurrencyKey: String,
         primitive: Primitive, policyName: String, functionKey: String, mimeType: String? = nil, ttlMilliseconds: Int64? = nil,
         listing: JSONValue? = nil) {
        self.listing = listing
        self.primitive = primitive
        self.policyName = policyName
        self.functionKey = functionKey
        self.mimeType = mimeType
        self.ttlMilliseconds = ttlMilliseconds
        self.plugin = plugin
        self.tool = tool
        self.function = function
        self.descriptor = descriptor
        self.limits = limits
        self.clamps = clamps
        self.rateKey = rateKey
        self.concurrencyKey = concurrencyKey
    }
}
