import Testing

@testable import BulkheadProtocol

@Suite("JSON serialising")
struct JSONSerializerTests {
    private func text(_ value: JSONValue) -> String {
        String(decoding: value.serialized(), as: UTF8.self)
    }

    @Test func scalars() {
        #expect(text(nil) == "null")
        #expect(text(true) == "true")
        #expect(text(false) == "false")
        #expect(text(0) == "0")
        #expect(text(7) == "7")
        #expect(text(-42) == "-42")
        #expect(text(.int(.max)) == "9223372036854775807")
        #expect(text(.int(.min)) == "-9223372036854775808")
    }

    @Test func doublesInShortestRoundTripForm() {
        #expect(text(0.1) == "0.1")
        #expect(text(1.5) == "1.5")
        #expect(text(3.0) == "3.0")
        #expect(text(-0.0) == "-0.0")
        #expect(text(1e20) == "1e+20")
        #expect(text(1e-5) == "1e-05")
        #expect(text(.double(.greatestFiniteMagnitude)) == "1.7976931348623157e+308")
        #expect(text(.double(.leastNonzeroMagnitude)) == "5e-324")
        for d in [0.1, 1.0 / 3.0, 2.0 / 3.0, 1e300, 123.456e-200, .pi] {
            #expect((try? JSONValue.parse(text(.double(d)))) == .double(d), "\(d)")
        }
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(text(.double(.infinity)) == "null")
        #expect(text(.double(-.infinity)) == "null")
        #expect(text(.double(.nan)) == "null")
        #expect(text([1, .double(.nan)]) == "[1,null]")
    }

    @Test func stringEscaping() {
        #expect(text("plain") == #""plain""#)
        #expect(text("a\"b\\c") == #""a\"b\\c""#)
        #expect(text("/path/") == #""/path/""#)
        #expect(text("\n\r\t\u{8}\u{C}") == #""\n\r\t\b\f""#)
        #expect(text("\u{0}\u{1}\u{1F}") == #""\u0000\u0001\u001f""#)
        #expect(text("\u{7F}") == "\"\u{7F}\"")
        #expect(text("é中😀") == "\"é中😀\"")
        #expect(text("\u{2028}") == "\"\u{2028}\"")
        #expect(text("") == #""""#)
    }

    @Test func containersKeepMemberOrder() {
        var o = JSONObject()
        o["zeta"] = 1
        o["alpha"] = [true, nil]
        o["mid"] = ["x": "y"]
        #expect(text(.object(o)) == #"{"zeta":1,"alpha":[true,null],"mid":{"x":"y"}}"#)
        #expect(text([]) == "[]")
        #expect(text(.object([:])) == "{}")
    }

    @Test func roundTrips() throws {
        let samples: [String] = [
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"héllo \"w\"\n"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
            #"[1,-2,3.25,1e+100,true,false,null,"",{},[],[[[]]]]"#,
            #"{"a":{"b":{"c":[{"d":"\u0000\u001f"}]}}}"#,
            #"{"emoji":"😀","cjk":"中文","rtl":"שלום"}"#,
        ]
        for sample in samples {
            let value = try JSONValue.parse(sample)
            let again = try JSONValue.parse(value.serialized())
            #expect(again == value, "\(sample)")
            // Compact input comes back byte for byte.
            #expect(String(decoding: value.serialized(), as: UTF8.self) == sample)
        }
    }

    @Test func valueAccessors() {
        let v: JSONValue = ["list": [1, "two", 3.5], "flag": true]
        #expect(v["list"]?[1] == "two")
        #expect(v["list"]?[3] == nil)
        #expect(v["list"]?[-1] == nil)
        #expect(v["flag"]?[0] == nil)
        #expect(v["list"]?[2]?.doubleValue == 3.5)
    }

    @Test func serializesIntoAnExistingBuffer() {
        var out = Array("prefix:".utf8)
        JSONValue.string("x").serialize(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"prefix:"x""#)
    }

    @Test func longStringsWithEscapesScattered() throws {
        var s = ""
        for i in 0..<5000 { s += i % 97 == 0 ? "\"\n\\" : "abcé" }
        let value = JSONValue.string(s)
        #expect(try JSONValue.parse(value.serialized()) == value)
    }
}
