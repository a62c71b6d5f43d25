import Testing

@testable import BulkheadCore

@Suite struct ToolNamingTests {
    /// Every pair of valid names gives a distinct served name: the first '__' is always the separator.
    @Test func servedNamesAreCollisionFree() {
        let plugins = ["a", "a_b", "a-b", "ab", "a_b_c", "a-_b"]
        let tools = ["c", "_c", "b__c", "__c", "c_", "b_c", "-c"]
        var seen: [String: (String, String)] = [:]
        for p in plugins where Naming.isPluginName(p) {
            for t in tools where Naming.isToolName(t) {
                let served = ToolNaming.underscore.servedName(plugin: p, tool: t)
                if let other = seen[served] { Issue.record("\(p)+\(t) and \(other) both serve as \(served)") }
                seen[served] = (p, t)
                let split = served.range(of: "__")!
                #expect(String(served[..<split.lowerBound]) == p)
                #expect(String(served[split.upperBound...]) == t)
            }
        }
        #expect(seen.count > 20)
    }

    @Test func longerThan64IsAProblem() {
        #expect(ToolNaming.underscore.problem(plugin: String(repeating: "p", count: 59), tool: "add") == nil)
        let why = ToolNaming.underscore.problem(plugin: String(repeating: "p", count: 60), tool: "add")
        #expect(why?.contains("65 characters") == true)
        #expect(ToolNaming.dotted.servedName(plugin: "docs", tool: "search") == "docs.search")
    }

    @Test func settingsAreExact() {
        #expect(ToolNaming(setting: "dotted") == .dotted)
        #expect(ToolNaming(setting: "Dotted") == nil)
    }
}
