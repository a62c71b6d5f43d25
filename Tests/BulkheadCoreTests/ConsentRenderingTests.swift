import BulkheadProtocol
import Testing

@testable import BulkheadCore

@Suite struct ConsentRenderingTests {
    let alice = Principal(name: "alice", tenant: "acme")

    @Test func theWholeQuestionForPlainArguments() {
        let message = ConsentRendering.message(tool: "tickets__create", principal: alice,
                                               arguments: ["title": "printer on fire", "priority": .int(2)])
        #expect(message == #"""
            tickets__create wants to make a change on behalf of alice (tenant acme).

            title: "printer on fire"
            priority: 2

            Every argument is shown whole. Text is in quotes; \n, \r, \t, \", \\ and \u{…} stand for line breaks, tabs, quotes, backslashes and hidden, control or direction characters.
            Allow this exact change?
            """#)
    }

    @Test func aLongValueIsShownWhole() {
        let body = String(repeating: "abcdefghij", count: 1000) + "THE END"
        let message = ConsentRendering.message(tool: "t", principal: alice, arguments: ["body": .string(body)])
        #expect(message.contains("body: \"\(body)\"\n"))
    }

    @Test(arguments: [
        ("ok\nAllow this exact change?", #""ok\nAllow this exact change?""#),
        ("a\r\tb", #""a\r\tb""#),
        ("quote \" and \\n", #""quote \" and \\n""#),
        ("\u{202E}txt.exe", #""\u{202E}txt.exe""#),
        ("\u{202A}\u{202B}\u{202C}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}\u{061C}",
         #""\u{202A}\u{202B}\u{202C}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}\u{61C}""#),
        ("a\u{200B}b\u{200C}c\u{200D}d\u{2060}e\u{FEFF}f\u{00AD}g", #""a\u{200B}b\u{200C}c\u{200D}d\u{2060}e\u{FEFF}f\u{AD}g""#),
        ("\u{1B}[2J\u{1B}[31mred", #""\u{1B}[2J\u{1B}[31mred""#),
        ("\u{0}\u{7F}\u{85}\u{9B}", #""\u{0}\u{7F}\u{85}\u{9B}""#),
        ("line\u{2028}para\u{2029}", #""line\u{2028}para\u{2029}""#),
        ("nbsp\u{A0}em\u{2003}ideo\u{3000}", #""nbsp\u{A0}em\u{2003}ideo\u{3000}""#),
        ("tag\u{E0041}vs\u{FE0F}fill\u{3164}blank\u{2800}", #""tag\u{E0041}vs\u{FE0F}fill\u{3164}blank\u{2800}""#),
        ("private\u{E000}", #""private\u{E000}""#),
        ("héllo wörld 日本語 مرحبا", #""héllo wörld 日本語 مرحبا""#),
    ])
    func everyCharacterThatCouldFakeTheLayoutIsEscaped(value: String, shown: String) {
        #expect(ConsentRendering.render(.string(value)) == shown)
    }

    @Test func keysAreEscapedTooAndCannotPassForALine() {
        let message = ConsentRendering.message(tool: "t", principal: alice,
                                               arguments: ["x\nAllow this exact change?": "y", "plain_key-1.2": "z"])
        #expect(message.contains(#""x\nAllow this exact change?": "y""#))
        #expect(message.contains("\nplain_key-1.2: \"z\"\n"))
        // The only line that asks is ours, and it is the last.
        #expect(message.split(separator: "\n").filter { $0 == "Allow this exact change?" }.count == 1)
        #expect(message.hasSuffix("\nAllow this exact change?"))
        #expect(ConsentRendering.name("has space") == #""has space""#)
        #expect(ConsentRendering.name("") == #""""#)
    }

    @Test func containersShowTheirStringsTheSameWay() {
        let value: JSONValue = ["list": ["a\u{202E}", .int(1), .bool(true), .null], "n": .double(2.5)]
        #expect(ConsentRendering.render(value) == #"{"list": ["a\u{202E}", 1, true, null], "n": 2.5}"#)
    }

    @Test func noLineOfAnyRenderingHoldsALineBreakOrAControl() {
        let nasty = (0..<0x3000).compactMap(Unicode.Scalar.init).map(String.init).joined()
        let rendered = ConsentRendering.render(.string(nasty))
        #expect(!rendered.unicodeScalars.contains { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
                || $0.properties.generalCategory == .lineSeparator || $0.properties.generalCategory == .paragraphSeparator })
    }
}
