import Testing

@testable import BulkheadProtocol

@Suite("JSON parsing")
struct JSONParserTests {
    private func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue.parse(text) }

    private func parse(bytes: [UInt8]) throws(JSONParseError) -> JSONValue { try JSONValue.parse(bytes) }

    private func rejection(_ text: String) -> JSONParseError? {
        rejection(bytes: Array(text.utf8))
    }

    private func rejection(bytes: [UInt8]) -> JSONParseError? {
        do {
            let value = try JSONValue.parse(bytes)
            Issue.record("accepted invalid JSON \(String(decoding: bytes, as: UTF8.self)) as \(value)")
            return nil
        } catch {
            return error
        }
    }

    @Test func scalars() throws {
        #expect(try parse("null") == .null)
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("0") == .int(0))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("42") == .int(42))
        #expect(try parse("-17") == .int(-17))
        #expect(try parse(#""hi""#) == .string("hi"))
        #expect(try parse(" \t\r\n 7 \n") == .int(7))
    }

    @Test func integersAtTheEdgesOfInt64() throws {
        #expect(try parse("9223372036854775807") == .int(.max))
        #expect(try parse("-9223372036854775808") == .int(.min))
        #expect(try parse("999999999999999999") == .int(999_999_999_999_999_999))
        #expect(try parse("1000000000000000000") == .int(1_000_000_000_000_000_000))
        // One past the range: a double, not an overflow.
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try parse("-9223372036854775809") == .double(-9_223_372_036_854_775_808))  // nearest double
        #expect(try parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test func fractionsAndExponentsAreDoubles() throws {
        #expect(try parse("1.5") == .double(1.5))
        #expect(try parse("-0.25") == .double(-0.25))
        #expect(try parse("1e3") == .double(1000))
        #expect(try parse("1E+3") == .double(1000))
        #expect(try parse("2.5e-3") == .double(0.0025))
        #expect(try parse("1.0") == .double(1.0))
        #expect(try parse("0.1") == .double(0.1))
    }

    @Test func strings() throws {
        #expect(try parse(#""a\"b\\c\/d""#) == .string("a\"b\\c/d"))
        #expect(try parse(#""\b\f\n\r\t""#) == .string("\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u00e9\u00E9""#) == .string("éé"))
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse("\"é😀中\"") == .string("é😀中"))
        #expect(try parse(#""prefix \u2028 suffix""#) == .string("prefix \u{2028} suffix"))
        #expect(try parse(#""""#) == .string(""))
        // Escapes after raw multi-byte text keep both.
        #expect(try parse("\"é\\n中\"") == .string("é\n中"))
    }

    @Test func containersKeepOrder() throws {
        let value = try parse(#"{"z":1,"a":[true,null,{"m":"x"}],"k":{}}"#)
        guard case .object(let o) = value else {
            Issue.record("not an object")
            return
        }
        #expect(o.keys == ["z", "a", "k"])
        #expect(o["a"] == [true, nil, ["m": "x"]])
        #expect(o["k"] == .object([:]))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("[ [ ] , { } ]") == [[], [:]])
    }

    @Test func duplicateKeysKeepFirstPositionAndLastValue() throws {
        let small = try parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(small.objectValue?.keys == ["a", "b"])
        #expect(small["a"] == 3)
        // Larger objects take the hashing path.
        var text = "{"
        for i in 0..<40 { text += "\"k\(i)\":\(i)," }
        text += "\"k5\":\"last\"}"
        let large = try parse(text)
        #expect(large.objectValue?.count == 40)
        #expect(large.objectValue?.keys.first == "k0")
        #expect(large["k5"] == "last")
    }

    @Test func nestingUpToTheLimit() throws {
        let limit = JSONValue.maximumNestingDepth
        let deep = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(throws: Never.self) { try JSONValue.parse(deep) }
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(rejection(tooDeep)?.reason == .tooDeep(limit: limit))
        let objects = String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)
        #expect(rejection(objects)?.reason == .tooDeep(limit: limit))
    }

    @Test(arguments: [
        ("", JSONParseError.Reason.emptyInput, 0),
        ("   ", .emptyInput, 3),
        ("[1,]", .trailingComma, 3),
        ("[1 , ]", .trailingComma, 5),
        (#"{"a":1,}"#, .trailingComma, 7),
        ("01", .leadingZero, 0),
        ("-01", .leadingZero, 0),
        ("00", .leadingZero, 0),
        ("1.", .invalidNumber, 0),
        ("1.e3", .invalidNumber, 0),
        (".5", .unexpectedByte(UInt8(ascii: ".")), 0),
        ("1e", .invalidNumber, 0),
        ("1e+", .invalidNumber, 0),
        ("+1", .unexpectedByte(UInt8(ascii: "+")), 0),
        ("-", .invalidNumber, 0),
        ("- 1", .invalidNumber, 0),
        ("NaN", .unexpectedByte(UInt8(ascii: "N")), 0),
        ("Infinity", .unexpectedByte(UInt8(ascii: "I")), 0),
        ("1e400", .numberOutOfRange, 0),
        ("[-2.5e309]", .numberOutOfRange, 1),
        (#""\uD800""#, .loneSurrogate, 1),
        (#""\uDC00""#, .loneSurrogate, 1),
        (#""\ud800\u0041""#, .loneSurrogate, 1),
        (#""\ud800x""#, .loneSurrogate, 1),
        (#""ab\x""#, .invalidEscape, 3),
        (#""\u12G4""#, .invalidUnicodeEscape, 1),
        (#""\u12""#, .invalidUnicodeEscape, 1),
        (#""abc"#, .unexpectedEnd, 4),
        (#""abc\"#, .unexpectedEnd, 5),
        ("tru", .invalidLiteral, 0),
        ("nul", .invalidLiteral, 0),
        ("falsy", .invalidLiteral, 0),
        ("nulll", .trailingCharacters, 4),
        ("1 2", .trailingCharacters, 2),
        ("{} x", .trailingCharacters, 3),
        ("[1 2]", .expectedCommaOrEnd, 3),
        (#"{"a":1 "b":2}"#, .expectedCommaOrEnd, 7),
        (#"{"a" 1}"#, .expectedColon, 5),
        ("{1:2}", .expectedKey, 1),
        ("{,}", .expectedKey, 1),
        ("[", .unexpectedEnd, 1),
        (#"{"a":"#, .unexpectedEnd, 5),
        ("[1,", .unexpectedEnd, 3),
        ("]", .unexpectedByte(UInt8(ascii: "]")), 0),
        ("'a'", .unexpectedByte(UInt8(ascii: "'")), 0),
    ])
    func rejectsInvalidText(text: String, reason: JSONParseError.Reason, offset: Int) {
        let error = rejection(text)
        #expect(error?.reason == reason, "\(text)")
        #expect(error?.offset == offset, "\(text)")
    }

    @Test func rejectsControlCharactersInStrings() {
        for byte: UInt8 in [0x00, 0x01, 0x0A, 0x0D, 0x09, 0x1F] {
            let error = rejection(bytes: [0x22, 0x61, byte, 0x22])
            #expect(error?.reason == .controlCharacterInString(byte))
            #expect(error?.offset == 2)
        }
        // Also after an escape (the slow path).
        let escaped = rejection(bytes: Array(#""\n"#.utf8) + [0x01, 0x22])
        #expect(escaped?.reason == .controlCharacterInString(0x01))
        // DEL is not a control character in JSON.
        #expect(throws: Never.self) { try JSONValue.parse([0x22, 0x7F, 0x22]) }
    }

    @Test(arguments: [
        [0xFF] as [UInt8],  // never valid
        [0x80],  // stray continuation byte
        [0xC0, 0x80],  // overlong NUL
        [0xC1, 0xBF],  // overlong
        [0xE0, 0x80, 0x80],  // overlong 3-byte
        [0xED, 0xA0, 0x80],  // UTF-8-encoded surrogate U+D800
        [0xF0, 0x80, 0x80, 0x80],  // overlong 4-byte
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],  // invalid lead
        [0xC3],  // truncated before the quote
        [0xE2, 0x82],  // truncated
        [0xE2, 0x28, 0xA1],  // bad continuation
    ])
    func rejectsInvalidUTF8(sequence: [UInt8]) {
        let bytes = [0x22, 0x61] + sequence + [0x22]
        let error = rejection(bytes: bytes)
        #expect(error?.reason == .invalidUTF8, "\(sequence)")
        #expect(error?.offset == 2, "\(sequence)")
        // The same in a string that has escapes (the slow path).
        let escaped = [0x22, 0x5C, 0x6E] + sequence + [0x22]
        #expect(rejection(bytes: escaped)?.reason == .invalidUTF8, "\(sequence)")
    }

    @Test func acceptsEveryKindOfValidUTF8() throws {
        // 2-, 3- and 4-byte forms at their boundaries.
        let text = "\u{80}\u{7FF}\u{800}\u{D7FF}\u{E000}\u{FFFF}\u{10000}\u{10FFFF}"
        #expect(try parse("\"\(text)\"") == .string(text))
    }

    @Test func errorDescriptionNamesTheOffset() {
        let error = rejection(#"{"a":[1,2,]}"#)
        #expect(error?.description == "trailing comma at byte offset 10")
        #expect(rejection("[1 x]")?.description == "expected ',' or closing bracket at byte offset 3")
    }

    @Test func parsesFromARawBuffer() throws {
        let bytes = Array(#"  {"jsonrpc":"2.0","id":1}  "#.utf8)
        let value = try bytes.withUnsafeBytes { buffer in try JSONValue.parse(buffer) }
        #expect(value["id"] == 1)
        let empty = [UInt8]()
        #expect(throws: JSONParseError.self) { try empty.withUnsafeBytes { try JSONValue.parse($0) } }
    }

    @Test func theElementBudgetCountsEveryValueAtEveryDepth() throws {
        // [[0],[0]] is five values: the outer array, two arrays, two zeros.
        let text = Array("[[0],[0]]".utf8)
        #expect(try text.withUnsafeBytes { try JSONValue.parse($0, maxElements: 5) } == .array([[0], [0]]))
        do {
            _ = try text.withUnsafeBytes { try JSONValue.parse($0, maxElements: 4) }
            Issue.record("parsed past the budget")
        } catch let error as JSONParseError {
            #expect(error.reason == .tooManyElements(limit: 4))
            #expect(error.description == "more than 4 values in one message at byte offset 6")
        }
        // Object members count their values, not their keys.
        let object = Array(#"{"a":1,"b":2}"#.utf8)
        #expect(throws: Never.self) { try object.withUnsafeBytes { try JSONValue.parse($0, maxElements: 3) } }
    }
}
