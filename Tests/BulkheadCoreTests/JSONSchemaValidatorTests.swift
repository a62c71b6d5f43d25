import BulkheadProtocol
import Testing

@testable import BulkheadCore

@Suite struct JSONSchemaValidatorTests {
    // MARK: Helpers

    func validator(_ schema: String, rootName: String = "arguments") throws -> JSONSchemaValidator {
        try JSONSchemaValidator(JSONValue.parse(schema), rootName: rootName)
    }

    func messages(_ v: JSONSchemaValidator, json value: String) throws -> [String] {
        v.validate(try JSONValue.parse(value)).map(\.message)
    }

    func messages(_ v: JSONSchemaValidator, _ value: JSONValue) -> [String] {
        v.validate(value).map(\.message)
    }

    /// The problems of a schema that must not compile; records an issue if it compiles.
    func problems(_ schema: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let value = try JSONValue.parse(schema)
        do {
            _ = try JSONSchemaValidator(value)
            Issue.record("schema compiled but should not: \(schema)", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }

    // MARK: type

    @Test func typeNamesEachJSONType() throws {
        let cases: [(type: String, valid: [JSONValue], invalid: [JSONValue])] = [
            ("string", ["", "x"], [1, 1.5, true, nil, [], [:]]),
            ("number", [0, -3, 2.5, 1e300], ["1", true, nil, [], [:]]),
            ("integer", [0, -3, 2.0, -7.0, 1e20], [2.5, -0.1, "1", true, nil, [], [:]]),
            ("boolean", [true, false], [0, 1, "true", nil]),
            ("null", [nil], [0, false, "", [], [:]]),
            ("array", [[], [1, "a"]], [[:], "[]", nil]),
            ("object", [[:], ["a": 1]], [[], "{}", nil]),
        ]
        for c in cases {
            let v = try JSONSchemaValidator(["type": .string(c.type)])
            for value in c.valid { #expect(v.validate(value).isEmpty, "\(c.type) should accept \(value)") }
            for value in c.invalid {
                let found = v.validate(value)
                #expect(found.count == 1, "\(c.type) should refuse \(value)")
                #expect(found.first?.keyword == "type")
            }
        }
    }

    @Test func integerMeansNoFractionalPart() throws {
        let v = try validator(#"{"type": "object", "properties": {"count": {"type": "integer"}}}"#)
        #expect(try messages(v, json: #"{"count": 2}"#) == [])
        #expect(try messages(v, json: #"{"count": 2.0}"#) == [])
        #expect(try messages(v, json: #"{"count": 2.5}"#) == ["count must be an integer (got 2.5)"])
        #expect(try messages(v, json: #"{"count": "2"}"#) == ["count must be an integer (got a string)"])
    }

    @Test func typeMessagesNameWhatWasSent() throws {
        let v = try validator(#"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": ["string", "null"]}, "c": {"type": ["integer", "boolean", "array"]}}}"#)
        #expect(try messages(v, json: #"{"a": 5}"#) == ["a must be a string (got 5)"])
        #expect(try messages(v, json: #"{"a": null}"#) == ["a must be a string (got null)"])
        #expect(try messages(v, json: #"{"a": true}"#) == ["a must be a string (got true)"])
        #expect(try messages(v, json: #"{"a": [1]}"#) == ["a must be a string (got an array)"])
        #expect(try messages(v, json: #"{"a": {}}"#) == ["a must be a string (got an object)"])
        #expect(try messages(v, json: #"{"b": null}"#) == [])
        #expect(try messages(v, json: #"{"b": 5}"#) == ["b must be a string or null (got 5)"])
        #expect(try messages(v, json: #"{"c": {}}"#) == ["c must be an integer, a boolean or an array (got an object)"])
        #expect(try messages(v, json: #"[1]"#) == ["arguments must be an object (got an array)"])
    }

    // MARK: required, properties, additionalProperties

    @Test func requiredNamesTheMissingProperty() throws {
        let v = try validator(#"{"type": "object", "required": ["query", "limit"], "properties": {"query": {"type": "string"}}}"#)
        #expect(try messages(v, json: #"{"query": "x", "limit": 1}"#) == [])
        #expect(try messages(v, json: #"{"query": null, "limit": 1}"#) == ["query must be a string (got null)"])
        let found = v.validate(try JSONValue.parse(#"{"limit": 1}"#))
        #expect(found == [SchemaViolation(path: "/query", field: "arguments.query", keyword: "required",
                                          message: "query is required")])
        #expect(try messages(v, json: "{}") == ["query is required", "limit is required"])
        // Required applies to objects only.
        #expect(try JSONSchemaValidator(["required": ["a"]]).validate("text").isEmpty)
    }

    @Test func additionalPropertiesFalseRefusesUnknownMembers() throws {
        let v = try validator(#"{"type": "object", "properties": {"query": {"type": "string"}}, "additionalProperties": false}"#)
        #expect(try messages(v, json: #"{"query": "x"}"#) == [])
        let found = v.validate(try JSONValue.parse(#"{"query": "x", "foo": 1}"#))
        #expect(found == [SchemaViolation(path: "/foo", field: "arguments.foo", keyword: "additionalProperties",
                                          message: "unexpected property 'foo' (additionalProperties is false)")])
    }

    @Test func additionalPropertiesTrueOrAbsentAllowsAnything() throws {
        for schema in [#"{"type": "object", "properties": {"a": {"type": "string"}}}"#,
                       #"{"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": true}"#] {
            let v = try validator(schema)
            #expect(try messages(v, json: #"{"a": "x", "b": [1, 2], "c": null}"#) == [])
        }
    }

    @Test func additionalPropertiesAsSchemaChecksOnlyUndeclaredMembers() throws {
        let v = try validator(#"{"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": {"type": "integer", "minimum": 0}}"#)
        #expect(try messages(v, json: #"{"name": "n", "x": 1, "y": 0}"#) == [])
        #expect(try messages(v, json: #"{"name": "n", "x": "a", "y": -1}"#) == [
            "x must be an integer (got a string)",
            "y must be at least 0 (got -1)",
        ])
        // The declared property is checked by its own schema, not the additional one.
        #expect(try messages(v, json: #"{"name": 3}"#) == ["name must be a string (got 3)"])
        #expect(v.validate(try JSONValue.parse(#"{"y": -1}"#)).first?.path == "/y")
    }

    @Test func propertyNamesMatchAsTheHostLooksThemUp() throws {
        // The host finds arguments code point by code point (JSONObject's lookup), so a decomposed
        // "café" is another key: not the declared property, and an extra one where extras are refused.
        let v = try JSONSchemaValidator(["type": "object", "properties": ["caf\u{E9}": ["maximum": 10]],
                                         "additionalProperties": false])
        let decomposed: JSONValue = .object(JSONObject([("cafe\u{301}", 500)]))
        #expect(v.validate(decomposed).map(\.keyword) == ["additionalProperties"])
        let composed: JSONValue = .object(JSONObject([("caf\u{E9}", 500)]))
        #expect(v.validate(composed).map(\.keyword) == ["maximum"])
    }

    // MARK: nesting and paths

    static let nested = #"""
        {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": {
                "type": "object", "required": ["name"], "additionalProperties": false,
                "properties": {"name": {"type": "string", "minLength": 1}, "tags": {"type": "array", "items": {"type": "string"}}}}},
            "filter": {"type": "object", "additionalProperties": false, "properties": {"since": {"type": "integer"}}}
        }}
        """#

    @Test func nestedViolationsReportTheirPath() throws {
        let v = try validator(Self.nested)
        #expect(try messages(v, json: #"{"items": [{"name": "a"}, {"name": "b", "tags": ["x"]}]}"#) == [])

        let found = v.validate(try JSONValue.parse(#"{"items": [{"name": "a"}, {"name": "b"}, {"name": ""}]}"#))
        #expect(found == [SchemaViolation(path: "/items/2/name", field: "arguments.items[2].name", keyword: "minLength",
                                          message: "items[2].name must be at least 1 character long (got 0)")])

        let deep = v.validate(try JSONValue.parse(#"{"items": [{"name": "a", "tags": ["x", 7]}]}"#))
        #expect(deep.map(\.path) == ["/items/0/tags/1"])
        #expect(deep.map(\.field) == ["arguments.items[0].tags[1]"])
        #expect(deep.map(\.message) == ["items[0].tags[1] must be a string (got 7)"])
    }

    @Test func nestedRequiredAndAdditionalNameTheirParent() throws {
        let v = try validator(Self.nested)
        let found = v.validate(try JSONValue.parse(#"{"items": [{"name": "a"}, {"x": 1}], "filter": {"since": 1, "until": 2}}"#))
        #expect(found.map(\.message) == [
            "items[1].name is required",
            "unexpected property 'x' in items[1] (additionalProperties is false)",
            "unexpected property 'until' in filter (additionalProperties is false)",
        ])
        #expect(found.map(\.path) == ["/items/1/name", "/items/1/x", "/filter/until"])
        #expect(found.map(\.keyword) == ["required", "additionalProperties", "additionalProperties"])
    }

    @Test func rootViolationsHaveTheEmptyPath() throws {
        let v = try validator(#"{"type": "object"}"#)
        let found = v.validate("text")
        #expect(found == [SchemaViolation(path: "", field: "arguments", keyword: "type",
                                          message: "arguments must be an object (got a string)")])
        #expect(found.first?.description == "arguments must be an object (got a string)")
    }

    @Test func unusualKeysAreQuotedAndEscaped() throws {
        let v = try JSONSchemaValidator(["type": "object", "properties": [
            "my key": ["type": "string"], "a/b~c": ["type": "string"], "max-results": ["type": "integer"],
            "outer": ["type": "object", "properties": ["in ner": ["type": "string"]]],
        ]])
        let found = v.validate(["my key": 1, "a/b~c": 1, "max-results": "x", "outer": ["in ner": 1]])
        #expect(found.map(\.path) == ["/my key", "/a~1b~0c", "/max-results", "/outer/in ner"])
        #expect(found.map(\.field) == [
            #"arguments["my key"]"#, "arguments.a/b~c", "arguments.max-results", #"arguments.outer["in ner"]"#,
        ])
        #expect(found.map(\.message) == [
            #"arguments["my key"] must be a string (got 1)"#,
            "a/b~c must be a string (got 1)",
            "max-results must be an integer (got a string)",
            #"outer["in ner"] must be a string (got 1)"#,
        ])
    }

    @Test func rootNameIsConfigurable() throws {
        let v = try validator(#"{"type": "object", "required": ["id"]}"#, rootName: "result")
        let found = v.validate([:])
        #expect(found.map(\.field) == ["result.id"])
        #expect(try messages(v, json: "3") == ["result must be an object (got 3)"])
    }

    // MARK: enum and const

    @Test func enumListsTheAllowedValues() throws {
        let v = try validator(#"{"type": "object", "properties": {"status": {"enum": ["open", "closed"]}, "mode": {"enum": ["fast"]}}}"#)
        #expect(try messages(v, json: #"{"status": "open", "mode": "fast"}"#) == [])
        let found = v.validate(["status": "pending"])
        #expect(found == [SchemaViolation(path: "/status", field: "arguments.status", keyword: "enum",
                                          message: #"status must be one of "open", "closed""#)])
        #expect(try messages(v, json: #"{"mode": "slow"}"#) == [#"mode must be "fast""#])
        #expect(try messages(v, json: #"{"status": 1}"#) == [#"status must be one of "open", "closed""#])
    }

    @Test func enumUsesJSONEquality() throws {
        let v = try validator(#"{"enum": [1, null, {"a": 1, "b": [1, 2]}, [1, "x"]]}"#)
        for ok in ["1", "1.0", "null", #"{"b": [1.0, 2], "a": 1}"#, #"[1.0, "x"]"#] {
            #expect(try messages(v, json: ok) == [], "\(ok) is in the enum")
        }
        for bad in ["2", "1.5", "false", "0", #"{"a": 1}"#, #"{"a": 1, "b": [2, 1]}"#, #"{"a": 1, "c": [1, 2]}"#, #"["x", 1]"#, #""1""#] {
            #expect(try messages(v, json: bad).count == 1, "\(bad) is not in the enum")
        }
        // Strings are compared code point by code point: a decomposed "é" is another string.
        let e = try JSONSchemaValidator(["enum": ["caf\u{E9}"]])
        #expect(e.validate("caf\u{E9}").isEmpty)
        #expect(e.validate("cafe\u{301}").count == 1)
        // Past ten values the list is cut.
        let many = try JSONSchemaValidator(["enum": .array((1...12).map { .int($0) })])
        #expect(messages(many, 13) == ["arguments must be one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …"])
    }

    @Test func constMatchesOneValue() throws {
        let v = try validator(#"{"properties": {"mode": {"const": "fast"}, "none": {"const": null}, "obj": {"const": {"x": 1, "y": 2}}}}"#)
        #expect(try messages(v, json: #"{"mode": "fast", "none": null, "obj": {"y": 2.0, "x": 1}}"#) == [])
        let found = v.validate(try JSONValue.parse(#"{"mode": "slow", "none": 0, "obj": {"x": 1}}"#))
        #expect(found.map(\.message) == [#"mode must be "fast""#, "none must be null", #"obj must be {"x":1,"y":2}"#])
        #expect(found.map(\.keyword) == ["const", "const", "const"])
    }

    // MARK: numbers

    @Test func minimumAndMaximumAreInclusive() throws {
        let v = try validator(#"{"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 20}}}"#)
        #expect(try messages(v, json: #"{"limit": 1}"#) == [])
        #expect(try messages(v, json: #"{"limit": 20}"#) == [])
        #expect(try messages(v, json: #"{"limit": 20.0}"#) == [])
        #expect(try messages(v, json: #"{"limit": 0}"#) == ["limit must be at least 1 (got 0)"])
        #expect(try messages(v, json: #"{"limit": 21}"#) == ["limit must be at most 20 (got 21)"])
        let found = v.validate(try JSONValue.parse(#"{"limit": 50}"#))
        #expect(found == [SchemaViolation(path: "/limit", field: "arguments.limit", keyword: "maximum",
                                          message: "limit must be at most 20 (got 50)")])
        #expect(try messages(v, json: #"{"limit": 0.5}"#) == ["limit must be an integer (got 0.5)", "limit must be at least 1 (got 0.5)"])
    }

    @Test func fractionalBoundsAndValues() throws {
        let v = try validator(#"{"minimum": -0.5, "maximum": 2.5}"#)
        for ok: JSONValue in [-0.5, 0, 2, 2.5, -0.0] { #expect(v.validate(ok).isEmpty, "\(ok)") }
        #expect(messages(v, 3) == ["arguments must be at most 2.5 (got 3)"])
        #expect(messages(v, 2.5000001) == ["arguments must be at most 2.5 (got 2.5000001)"])
        #expect(messages(v, -1) == ["arguments must be at least -0.5 (got -1)"])
        let w = try validator(#"{"minimum": 1.0}"#)
        #expect(messages(w, 0.999) == ["arguments must be at least 1 (got 0.999)"])
        #expect(w.validate(1).isEmpty)
    }

    @Test func exclusiveBoundsRefuseTheBoundItself() throws {
        let v = try validator(#"{"properties": {"ratio": {"exclusiveMinimum": 0, "exclusiveMaximum": 100}}}"#)
        #expect(try messages(v, json: #"{"ratio": 0.0001}"#) == [])
        #expect(try messages(v, json: #"{"ratio": 99.999}"#) == [])
        #expect(try messages(v, json: #"{"ratio": 0}"#) == ["ratio must be greater than 0 (got 0)"])
        #expect(try messages(v, json: #"{"ratio": 0.0}"#) == ["ratio must be greater than 0 (got 0)"])
        #expect(try messages(v, json: #"{"ratio": -3}"#) == ["ratio must be greater than 0 (got -3)"])
        #expect(try messages(v, json: #"{"ratio": 100}"#) == ["ratio must be less than 100 (got 100)"])
        let found = v.validate(["ratio": 100.5])
        #expect(found.map(\.keyword) == ["exclusiveMaximum"])
        #expect(found.map(\.message) == ["ratio must be less than 100 (got 100.5)"])
    }

    @Test func largeIntegersCompareExactly() throws {
        // 2^53 + 1 rounds to 2^53 as a Double; the comparison must not.
        let v = try JSONSchemaValidator(["maximum": .int(9_007_199_254_740_992)])
        #expect(v.validate(.int(9_007_199_254_740_992)).isEmpty)
        #expect(v.validate(.int(9_007_199_254_740_993)).count == 1)
        let d = try JSONSchemaValidator(["maximum": .double(9_007_199_254_740_992)])
        #expect(d.validate(.int(9_007_199_254_740_992)).isEmpty)
        #expect(d.validate(.int(9_007_199_254_740_993)).count == 1)
        let big = try JSONSchemaValidator(["minimum": .double(1e19)])
        #expect(big.validate(.int(Int64.max)).count == 1)
        #expect(big.validate(.double(1e19)).isEmpty)
        let neg = try JSONSchemaValidator(["exclusiveMinimum": .double(-1e19)])
        #expect(neg.validate(.int(Int64.min)).isEmpty)
    }

    @Test func numericRulesIgnoreOtherTypes() throws {
        let v = try validator(#"{"minimum": 5, "maximum": 1, "exclusiveMinimum": 10}"#)
        for value: JSONValue in ["abc", true, nil, [1], ["a": 100]] { #expect(v.validate(value).isEmpty) }
    }

    // MARK: strings

    @Test func lengthsCountCodePoints() throws {
        let v = try validator(#"{"properties": {"s": {"minLength": 2, "maxLength": 3}}}"#)
        for ok in ["ab", "abc", "éé", "ééé", "😀😀😀", "e\u{301}", "日本語"] {
            #expect(messages(v, ["s": .string(ok)]) == [], "\(ok) has 2 or 3 code points")
        }
        #expect(messages(v, ["s": "é"]) == ["s must be at least 2 characters long (got 1)"])
        #expect(messages(v, ["s": "😀"]) == ["s must be at least 2 characters long (got 1)"])
        #expect(messages(v, ["s": ""]) == ["s must be at least 2 characters long (got 0)"])
        #expect(messages(v, ["s": "abcd"]) == ["s must be at most 3 characters long (got 4)"])
        #expect(messages(v, ["s": "éééé"]) == ["s must be at most 3 characters long (got 4)"])
        // One grapheme, several code points: 👍🏽 is two, the family emoji seven.
        #expect(messages(v, ["s": "👍🏽👍🏽"]) == ["s must be at most 3 characters long (got 4)"])
        #expect(messages(v, ["s": "👨‍👩‍👧‍👦"]) == ["s must be at most 3 characters long (got 7)"])
        let one = try validator(#"{"properties": {"q": {"minLength": 1, "maxLength": 1}}}"#)
        #expect(messages(one, ["q": ""]) == ["q must be at least 1 character long (got 0)"])
        #expect(messages(one, ["q": "😀"]) == [])
        #expect(messages(one, ["q": "ab"]) == ["q must be at most 1 character long (got 2)"])
        // 24 bytes, 6 code points: the byte count alone must not decide.
        let four = try validator(#"{"minLength": 7}"#)
        #expect(messages(four, "😀😀😀😀😀😀") == ["arguments must be at least 7 characters long (got 6)"])
        #expect(four.validate(123).isEmpty)
    }

    @Test func patternSearchesUnanchored() throws {
        let v = try validator(#"{"properties": {"code": {"pattern": "^[A-Z]{2}-[0-9]+$"}, "has": {"pattern": "[0-9]"}}}"#)
        #expect(try messages(v, json: #"{"code": "AB-12", "has": "abc1def"}"#) == [])
        let found = v.validate(["code": "ab-12"])
        #expect(found == [SchemaViolation(path: "/code", field: "arguments.code", keyword: "pattern",
                                          message: "code must match the pattern /^[A-Z]{2}-[0-9]+$/")])
        #expect(try messages(v, json: #"{"has": "abc"}"#) == ["has must match the pattern /[0-9]/"])
        // $ is the end of the string, not before a final newline (ECMA-262).
        #expect(try messages(v, json: #"{"code": "AB-12\n"}"#).count == 1)
        #expect(try messages(v, json: #"{"code": 12}"#) == [])
    }

    @Test func patternClassesAreASCIIAndDotIsACodePoint() throws {
        let digits = try validator(#"{"pattern": "^\\d+$"}"#)
        #expect(digits.validate("123").isEmpty)
        #expect(digits.validate("١٢٣").count == 1)  // Arabic-Indic digits are not \d in ECMA-262
        let word = try validator(#"{"pattern": "^\\w+$"}"#)
        #expect(word.validate("abc_1").isEmpty)
        #expect(word.validate("é").count == 1)
        let dot = try validator(#"{"pattern": "^.$"}"#)
        #expect(dot.validate("é").isEmpty)
        #expect(dot.validate("😀").isEmpty)
        #expect(dot.validate("e\u{301}").count == 1)
        let unicode = try validator(#"{"pattern": "^\\p{L}+$"}"#)
        #expect(unicode.validate("héllo").isEmpty)
    }

    // MARK: arrays

    @Test func itemCountsAndItems() throws {
        let v = try validator(#"{"properties": {"tags": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string", "maxLength": 5}}}}"#)
        #expect(try messages(v, json: #"{"tags": ["a"]}"#) == [])
        #expect(try messages(v, json: #"{"tags": ["a", "b", "c"]}"#) == [])
        #expect(try messages(v, json: #"{"tags": []}"#) == ["tags must have at least 1 item (got 0)"])
        #expect(try messages(v, json: #"{"tags": ["a", "b", "c", "d"]}"#) == ["tags must have at most 3 items (got 4)"])
        let found = v.validate(try JSONValue.parse(#"{"tags": ["ok", 5, "toolong"]}"#))
        #expect(found.map(\.message) == ["tags[1] must be a string (got 5)", "tags[2] must be at most 5 characters long (got 7)"])
        #expect(found.map(\.path) == ["/tags/1", "/tags/2"])
        let two = try validator(#"{"minItems": 2, "maxItems": 2}"#)
        #expect(messages(two, [1]) == ["arguments must have at least 2 items (got 1)"])
        #expect(messages(two, [1, 2, 3]) == ["arguments must have at most 2 items (got 3)"])
        #expect(two.validate("not an array").isEmpty)
    }

    @Test func uniqueItemsUsesJSONEquality() throws {
        let v = try validator(#"{"properties": {"ids": {"uniqueItems": true}}}"#)
        #expect(try messages(v, json: #"{"ids": [1, 2, "1", [1], {"a": 1}, true, null]}"#) == [])
        #expect(try messages(v, json: #"{"ids": [1, 2, 1.0]}"#) == ["ids must not contain duplicates (items 0 and 2 are equal)"])
        #expect(try messages(v, json: #"{"ids": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]}"#) == ["ids must not contain duplicates (items 0 and 1 are equal)"])
        #expect(try messages(v, json: #"{"ids": [[1, 2], [2, 1], [1.0, 2.0]]}"#) == ["ids must not contain duplicates (items 0 and 2 are equal)"])
        #expect(v.validate(["ids": [1, 2, 3]]).isEmpty)
        let found = v.validate(["ids": ["a", "b", "a"]])
        #expect(found.map(\.keyword) == ["uniqueItems"])
        #expect(found.map(\.path) == ["/ids"])
        // Large arrays take the hashing path; same answers.
        var many: [JSONValue] = (0..<100).map { .int($0) }
        #expect(v.validate(["ids": .array(many)]).isEmpty)
        many.append(.double(42))
        #expect(messages(v, ["ids": .array(many)]) == ["ids must not contain duplicates (items 42 and 100 are equal)"])
        let objects: [JSONValue] = (0..<50).map { ["k": .int($0), "v": "x"] } + [["v": "x", "k": 7.0]]
        #expect(messages(v, ["ids": .array(objects)]) == ["ids must not contain duplicates (items 7 and 50 are equal)"])
        let off = try validator(#"{"uniqueItems": false}"#)
        #expect(off.validate([1, 1]).isEmpty)
    }

    // MARK: boolean schemas

    @Test func booleanSchemas() throws {
        #expect(try JSONSchemaValidator(true).validate(["anything": [1, nil]]).isEmpty)
        let no = try JSONSchemaValidator(false)
        #expect(no.validate([:]).map(\.message) == ["arguments is not allowed"])
        let items = try validator(#"{"properties": {"none": {"items": false}, "gone": false}}"#)
        #expect(try messages(items, json: #"{"none": []}"#) == [])
        let found = items.validate(try JSONValue.parse(#"{"none": [1], "gone": 0}"#))
        #expect(found.map(\.message) == ["none[0] is not allowed", "gone is not allowed"])
        #expect(found.map(\.keyword) == ["false", "false"])
    }

    // MARK: several violations

    @Test func everyViolationIsReportedTogether() throws {
        let v = try validator(#"""
            {"type": "object", "required": ["query", "limit"], "additionalProperties": false, "properties": {
                "query": {"type": "string", "minLength": 3, "pattern": "^[a-z]+$"},
                "limit": {"type": "integer", "maximum": 20},
                "status": {"enum": ["open", "closed"]}}}
            """#)
        let found = v.validate(try JSONValue.parse(#"{"status": "pending", "query": "A", "foo": 1, "bar": 2}"#))
        #expect(found.map(\.message) == [
            "limit is required",
            #"status must be one of "open", "closed""#,
            "query must be at least 3 characters long (got 1)",
            "query must match the pattern /^[a-z]+$/",
            "unexpected property 'foo' (additionalProperties is false)",
            "unexpected property 'bar' (additionalProperties is false)",
        ])
        #expect(found.map(\.keyword) == ["required", "enum", "minLength", "pattern", "additionalProperties", "additionalProperties"])
        #expect(!v.isValid(try JSONValue.parse(#"{"query": "A"}"#)))
        #expect(v.isValid(try JSONValue.parse(#"{"query": "abc", "limit": 20}"#)))
    }

    @Test func violationsAreCapped() throws {
        let v = try validator(#"{"type": "object", "additionalProperties": false}"#)
        let members = (0..<50).map { ("k\($0)", JSONValue.int(Int64($0))) }
        let value = JSONValue.object(JSONObject(members))
        let found = v.validate(value)
        #expect(found.count == JSONSchemaValidator.defaultViolationLimit)
        #expect(found.count == 20)
        #expect(found.first?.path == "/k0")
        #expect(found.last?.path == "/k19")
        #expect(v.validate(value, limit: 3).map(\.path) == ["/k0", "/k1", "/k2"])
        // Deep violations count against the same cap.
        let deep = try validator(#"{"items": {"items": {"type": "string"}}}"#)
        let grid = JSONValue.array((0..<10).map { _ in .array((0..<10).map { .int($0) }) })
        #expect(deep.validate(grid).count == 20)
        #expect(deep.validate(grid).last?.path == "/1/9")
    }

    // MARK: ignored keywords

    @Test func annotationsAndUnknownKeywordsAreIgnored() throws {
        let v = try validator(#"""
            {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "title": "T", "description": "D",
             "type": "object", "x-vendor": {"anything": [1]}, "deprecated": true, "readOnly": false,
             "properties": {"when": {"type": "string", "format": "date-time", "default": "now", "examples": ["2024-01-01"]},
                            "n": {"type": "integer", "default": "not even an integer", "format": 5}},
             "$defs": {"broken": {"minimum": "whatever"}}}
            """#)
        #expect(try messages(v, json: #"{"when": "yesterday", "n": 1}"#) == [])
        #expect(v.unsupportedKeywords.isEmpty)
    }

    @Test func unenforcedKeywordsAreListed() throws {
        let v = try validator(##"{"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}]}, "y": {"$ref": "#/$defs/y"}}, "minProperties": 1}"##)
        #expect(v.unsupportedKeywords == ["#/minProperties", "#/properties/x/anyOf", "#/properties/y/$ref"])
        #expect(v.validate(["x": 5]).isEmpty)  // not enforced, as the list says
    }

    // MARK: numeric bounds

    @Test func numericBoundsOfTopLevelProperties() throws {
        let v = try validator(#"""
            {"type": "object", "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                "ratio": {"minimum": 0.5},
                "open": {"exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "name": {"type": "string"},
                "nested": {"properties": {"deep": {"maximum": 3}}}}}
            """#)
        #expect(v.numericBounds(of: "limit") == (1, 20))
        #expect(v.numericBounds(of: "ratio") == (0.5, nil))
        #expect(v.numericBounds(of: "open") == (nil, nil))
        #expect(v.numericBounds(of: "name") == (nil, nil))
        #expect(v.numericBounds(of: "deep") == (nil, nil))
        #expect(v.numericBounds(of: "missing") == (nil, nil))
        #expect(try JSONSchemaValidator(true).numericBounds(of: "limit") == (nil, nil))
    }

    // MARK: malformed schemas

    @Test func malformedKeywordsAreRefusedWithTheirLocation() throws {
        #expect(try problems(#"{"type": "object", "properties": {"limit": {"type": "integer", "minimum": "5"}}}"#)
            == [#"#/properties/limit/minimum must be a number (got "5")"#])
        #expect(try problems(#"{"maximum": null}"#) == ["#/maximum must be a number (got null)"])
        #expect(try problems(#"{"required": "query"}"#) == [#"#/required must be an array of property names (got "query")"#])
        #expect(try problems(#"{"required": ["query", 5]}"#) == ["#/required/1 must be a string (got 5)"])
        #expect(try problems(#"{"type": "strng"}"#)
            == [#"#/type names an unknown type "strng" (expected string, number, integer, boolean, object, array or null)"#])
        #expect(try problems(#"{"type": ["string", 1]}"#)
            == ["#/type/1 must be a type name: string, number, integer, boolean, object, array or null (got 1)"])
        #expect(try problems(#"{"type": []}"#) == ["#/type must name at least one type"])
        #expect(try problems(#"{"type": 5}"#) == ["#/type must be a type name or an array of them (got 5)"])
        #expect(try problems(#"{"minLength": -1}"#) == ["#/minLength must be a non-negative integer (got -1)"])
        #expect(try problems(#"{"maxItems": 1.5}"#) == ["#/maxItems must be a non-negative integer (got 1.5)"])
        #expect(try problems(#"{"maxLength": "3"}"#) == [#"#/maxLength must be a non-negative integer (got "3")"#])
        #expect(try problems(#"{"enum": []}"#) == ["#/enum must list at least one value"])
        #expect(try problems(#"{"enum": "a"}"#) == [#"#/enum must be an array (got "a")"#])
        #expect(try problems(#"{"uniqueItems": "yes"}"#) == [#"#/uniqueItems must be a boolean (got "yes")"#])
        #expect(try problems(#"{"pattern": 5}"#) == ["#/pattern must be a string (got 5)"])
        #expect(try problems(#"{"properties": ["a"]}"#) == [#"#/properties must be an object of schemas (got ["a"])"#])
        #expect(try problems(#"{"properties": {"x": 5}}"#) == ["#/properties/x must be a schema: an object or a boolean (got 5)"])
        #expect(try problems(#"{"additionalProperties": "no"}"#)
            == [#"#/additionalProperties must be a schema: an object or a boolean (got "no")"#])
        #expect(try problems(#"{"items": {"items": {"minimum": true}}}"#) == ["#/items/items/minimum must be a number (got true)"])
        #expect(try problems("[]") == ["# must be a schema: an object or a boolean (got [])"])
        #expect(try problems(#"{"properties": {"a/b": {"minimum": "x"}}}"#) == [#"#/properties/a~1b/minimum must be a number (got "x")"#])
    }

    @Test func malformedPatternsAndDraft4FormsExplainThemselves() throws {
        let bad = try problems(#"{"properties": {"code": {"pattern": "[a-z"}}}"#)
        #expect(bad.count == 1)
        #expect(bad.first?.hasPrefix(#"#/properties/code/pattern "[a-z" is not a valid regular expression: "#) == true)
        let lookbehind = try problems(#"{"pattern": "(?<=a)b"}"#)
        #expect(lookbehind.count == 1)
        #expect(lookbehind.first?.hasPrefix("#/pattern") == true)
        let items = try problems(#"{"items": [{"type": "string"}]}"#)
        #expect(items.count == 1)
        #expect(items.first?.hasPrefix("#/items must be a schema") == true)
        let draft4 = try problems(#"{"minimum": 0, "exclusiveMinimum": true}"#)
        #expect(draft4.count == 1)
        #expect(draft4.first?.hasPrefix("#/exclusiveMinimum must be a number (got true; the boolean form of draft 4") == true)
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        let all = try problems(#"""
            {"type": "object", "required": [1], "properties": {
                "a": {"minimum": "1", "maxLength": -2},
                "b": {"pattern": "("},
                "c": {"items": {"type": "thing"}}}}
            """#)
        #expect(all.count == 5)
        #expect(all.map { String($0.prefix(while: { $0 != " " })) } == [
            "#/required/0", "#/properties/a/minimum", "#/properties/a/maxLength", "#/properties/b/pattern",
            "#/properties/c/items/type",
        ])
        let twoBad = try JSONValue.parse(#"{"minimum": "1", "maximum": "2"}"#)
        do {
            _ = try JSONSchemaValidator(twoBad)
            Issue.record("expected InvalidSchema")
        } catch {
            #expect(error.description == #"#/minimum must be a number (got "1"); #/maximum must be a number (got "2")"#)
        }
    }

    @Test func wellFormedEdgeValuesCompile() throws {
        // Integral doubles are counts; zero is a count; an empty properties object is fine.
        let v = try validator(#"{"minLength": 2.0, "maxItems": 0, "properties": {}, "required": [], "type": ["string", "array"]}"#)
        #expect(messages(v, "a") == ["arguments must be at least 2 characters long (got 1)"])
        #expect(messages(v, [1]) == ["arguments must have at most 0 items (got 1)"])
        #expect(v.validate([]).isEmpty)
    }

    @Test func manifestStyleSchemaFromTOMLValues() throws {
        // The shape a manifest's [tools.input_schema] table yields.
        let schema: JSONValue = [
            "type": "object",
            "required": ["query"],
            "properties": ["query": ["type": "string", "minLength": 1], "limit": ["type": "integer", "minimum": 1, "maximum": 50]],
        ]
        let v = try JSONSchemaValidator(schema)
        #expect(v.validate(["query": "swift", "limit": 10]).isEmpty)
        #expect(messages(v, ["limit": 100]) == ["query is required", "limit must be at most 50 (got 100)"])
    }
}
