import Testing

@testable import BulkheadProtocol

/// Names and keys compare code point by code point, never by Unicode canonical equivalence.
@Suite struct ExactStringTests {
    let composed = "caf\u{e9}"
    let decomposed = "cafe\u{301}"
    let kelvin = "\u{212A}"

    @Test func swiftWouldMergeThemButWeDoNot() {
        #expect(composed == decomposed)  // why ExactKey exists
        #expect(!composed.isExactly(decomposed))
        #expect(!kelvin.isExactly("K"))
        #expect("K".isExactly("K"))
        #expect(ExactKey(composed) != ExactKey(decomposed))
        #expect(Set([ExactKey(composed), ExactKey(decomposed), ExactKey("K"), ExactKey(kelvin)]).count == 4)
    }

    @Test func objectKeysStayApart() throws {
        let text = "{\"\(composed)\":1,\"\(decomposed)\":2,\"K\":3,\"\(kelvin)\":4}"
        let value = try JSONValue.parse(text)
        let object = try #require(value.objectValue)
        #expect(object.count == 4)
        #expect(object[composed] == .int(1))
        #expect(object[decomposed] == .int(2))
        #expect(object[kelvin] == .int(4))
    }

    @Test func largeObjectsToo() throws {
        // Past the small-object path: the duplicate search hashes keys.
        var members = (0..<20).map { "\"k\($0)\":\($0)" }
        members += ["\"\(composed)\":100", "\"\(decomposed)\":200", "\"k3\":33"]
        let object = try #require(try JSONValue.parse("{" + members.joined(separator: ",") + "}").objectValue)
        #expect(object.count == 22)
        #expect(object["k3"] == .int(33))
        #expect(object[decomposed] == .int(200))
    }

    @Test func stringValuesCompareExactly() {
        #expect(JSONValue.string(composed) != JSONValue.string(decomposed))
        #expect(JSONValue.object([composed: 1]) != JSONValue.object([decomposed: 1]))
        #expect(JSONValue.object(["a": 1, "b": 2]) == JSONValue.object(["b": 2, "a": 1]))
    }
}
