import BulkheadProtocol
import Testing

@testable import BulkheadCore

/// Clamping keeps a value's type; secrets are redacted from results and
/// last_error; output schemas are compiled with the manifest.
@Suite struct ClampTypeTests {
    static let manifest = """
        name = "clamps"
        version = "1.0.0"
        abi = "1.1"
        library = "libclamps.so"
        description = "Clamps."

        [[tools]]
        name = "list"
        description = "List."
        access = "read"
        [tools.input_schema]
        type = "object"
        [tools.input_schema.properties.page]
        type = "integer"
        minimum = 1
        maximum = 50
        [tools.input_schema.properties.ratio]
        type = "number"
        minimum = 0.5
        maximum = 2.5
        [tools.input_schema.properties.odd]
        type = "integer"
        minimum = 0.5
        maximum = 9.5
        [tools.input_schema.properties.any]
        minimum = 0
        maximum = 10
        """

    static func tool() throws -> PluginManifest.Tool {
        try PluginManifest.parse(TOMLDocument.parse(manifest)).tools[0]
    }

    static func run(_ args: JSONObject) throws -> Result<ArgumentCheck.Passed, ToolResultBox> {
        ArgumentCheck.run(args, tool: try tool(), clamps: ["page", "ratio", "odd", "any"])
    }

    @Test func aNonIntegerForAnIntegerFieldIsRefusedNotRounded() throws {
        for value: JSONValue in [.double(50.5), .double(500.5), .double(-3.25)] {
            guard case .failure(let box) = try Self.run(["page": value]) else {
                Issue.record("\(value) was accepted"); continue
            }
            let sc = box.result.structuredContent?.objectValue
            #expect(sc?["kind"] == .string("invalid_argument"))
            #expect(sc?["message"]?.stringValue?.contains("page must be an integer") == true, "\(String(describing: sc))")
        }
    }

    @Test func otherTypesAreLeftForTheValidator() throws {
        for value: JSONValue in [.string("500"), .bool(true), .array([.int(500)])] {
            guard case .failure(let box) = try Self.run(["page": value]) else {
                Issue.record("\(value) was accepted"); continue
            }
            #expect(box.result.structuredContent?.objectValue?["message"]?.stringValue?.contains("page must be an integer") == true)
        }
    }

    @Test func valuesOfTheRightTypeAreClampedAndStayOfIt() throws {
        let cases: [(JSONObject, String, JSONValue)] = [
            (["page": .int(500)], "page", .int(50)),
            (["page": .double(500.0)], "page", .int(50)),   // 500.0 is an integer to JSON Schema
            (["page": .int(-3)], "page", .int(1)),
            (["ratio": .double(9.75)], "ratio", .double(2.5)),
            (["ratio": .int(0)], "ratio", .double(0.5)),
            (["odd": .int(0)], "odd", .int(1)),             // integer bounds rounded inwards
            (["odd": .int(12)], "odd", .int(9)),
            (["any": .double(11.5)], "any", .int(10)),      // no type: any number
        ]
        for (args, field, applied) in cases {
            guard case .success(let passed) = try Self.run(args) else {
                Issue.record("\(args) was refused"); continue
            }
            #expect(passed.arguments[field] == applied, "\(args)")
            #expect(passed.clamped.count == 1)
        }
    }

    @Test func theBoundsSayWhenNotToClamp() throws {
        let v = try Self.tool().validator
        #expect(v.clampBounds(of: "page", for: .double(50.5)) == nil)
        #expect(v.clampBounds(of: "page", for: .string("1")) == nil)
        #expect(v.clampBounds(of: "page", for: .int(7))! == (1, 50))
        #expect(v.clampBounds(of: "odd", for: .int(7))! == (1, 9))
        #expect(v.clampBounds(of: "ratio", for: .double(1.5))! == (0.5, 2.5))
        #expect(v.clampBounds(of: "missing", for: .int(1)) == nil)
    }
}

@Suite struct SecretRedactionTests {
    static let secret = "hunter2-redaction-test"

    static func secrets() throws -> (CapabilitySet, TempDir) {
        let dir = try TempDir()
        let file = dir.write("secret", secret + "\n")
        let m = try PluginManifest.parse(TOMLDocument.parse(ManifestTests.requesting))
        let (set, _) = CapabilitySet.resolve(requests: m.capabilities, grants: ["key": .secret(.file(file))], mint: { 9 })
        return (set, dir)
    }

    @Test func structuredContentIsRedactedAtAnyDepthAndStaysJSON() throws {
        let (set, _) = try Self.secrets()
        #expect(set.holdsSecrets && !CapabilitySet.empty.holdsSecrets)
        let raw = "{\"a\":{\"list\":[\"x \(Self.secret) y\",{\"deep\":\"\(Self.secret)\"}]},\"\(Self.secret)\":1,"
            + "\"escaped\":\"\\u0068unter2-redaction-test\",\"n\":42,\"ok\":true}"
        let value = try JSONValue.parse(Array(raw.utf8))
        let redacted = set.redact(value)
        let text = String(decoding: redacted.serialized(), as: UTF8.self)
        #expect(!text.contains(Self.secret))
        #expect(redacted["a"]?["list"]?[0] == .string("x [redacted] y"))
        #expect(redacted["a"]?["list"]?[1]?["deep"] == .string("[redacted]"))
        #expect(redacted["[redacted]"] == .int(1))
        #expect(redacted["escaped"] == .string("[redacted]"))
        #expect(redacted["n"] == .int(42) && redacted["ok"] == .bool(true))
        #expect(try JSONValue.parse(Array(text.utf8)) == redacted)
    }

    @Test func aNumberThatSpellsASecretIsRedacted() throws {
        let dir = try TempDir()
        let file = dir.write("pin", "90210\n")
        let m = try PluginManifest.parse(TOMLDocument.parse(ManifestTests.requesting))
        let (set, _) = CapabilitySet.resolve(requests: m.capabilities, grants: ["key": .secret(.file(file))], mint: { 3 })
        #expect(set.redact(["zip": .int(90210), "other": .int(1234)]) == ["zip": "[redacted]", "other": .int(1234)])
    }

    @Test func lastErrorNeverHoldsAGrantedSecret() throws {
        let (_, dir) = try Self.secrets()
        _ = dir
        // Long enough that cutting at 511 bytes would otherwise leave a prefix of the secret.
        let padding = String(repeating: "p", count: 500)
        LastError.set("capability '\(padding)\(Self.secret)' is not requested")
        let got = LastError.get()
        let text = String(decoding: UnsafeRawBufferPointer(start: got.ptr, count: got.len), as: UTF8.self)
        #expect(!text.contains("hunter2"))
        LastError.set("capability '\(Self.secret)' is not requested")
        let short = LastError.get()
        #expect(String(decoding: UnsafeRawBufferPointer(start: short.ptr, count: short.len), as: UTF8.self)
            == "capability '[redacted]' is not requested")
    }
}

@Suite struct OutputSchemaTests {
    static func manifest(_ outputSchema: String) -> String {
        """
        name = "shaped"
        version = "1.0.0"
        abi = "1.1"
        library = "libshaped.so"
        description = "Shaped."

        [[tools]]
        name = "get"
        description = "Get."
        access = "read"
        input_schema = { type = "object" }
        output_schema = '\(outputSchema)'
        """
    }

    @Test func anOutputSchemaIsCompiledWithTheManifest() throws {
        let m = try PluginManifest.parse(TOMLDocument.parse(Self.manifest(#"{"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}"#)))
        let v = try #require(m.tools[0].outputValidator)
        #expect(v.isValid(["count": .int(3)]))
        #expect(v.validate(["count": "three"]).map(\.message) == ["count must be an integer (got a string)"])
    }

    @Test func aBrokenOutputSchemaRefusesThePlugin() throws {
        #expect(throws: LoadProblems.self) {
            try PluginManifest.parse(TOMLDocument.parse(Self.manifest(#"{"type": "object", "properties": {"count": {"minimum": "zero"}}}"#)))
        }
    }

    @Test func withoutOneThereIsNothingToCheck() throws {
        let m = try PluginManifest.parse(TOMLDocument.parse(ManifestTests.good))
        #expect(m.tools.allSatisfy { $0.outputValidator == nil })
    }
}
