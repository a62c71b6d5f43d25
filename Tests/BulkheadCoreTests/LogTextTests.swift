import BulkheadProtocol
import Logging
import Synchronization
import Testing

@testable import BulkheadCore

@Suite struct LogTextTests {
    @Test func plainTextIsUnchanged() {
        #expect(LogText.escaped("loaded plugin 'docs' 1.0.0 — ünïcode ok") == "loaded plugin 'docs' 1.0.0 — ünïcode ok")
    }

    @Test func lineBreaksAndControlsCannotStartALine() {
        let forged = "hi\n2030-01-01T00:00:00.000Z error bulkhead: forged\r\u{1b}[2K\t\u{0}\u{7f}\u{85}\u{2028}\u{202e}"
        let out = LogText.escaped(forged)
        #expect(!out.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) })
        #expect(!out.contains("\u{2028}") && !out.contains("\u{202e}"))
        #expect(out == #"hi\n2030-01-01T00:00:00.000Z error bulkhead: forged\r\u{1b}[2K\t\u{0}\u{7f}\u{85}\u{2028}\u{202e}"#)
    }

    @Test func escapingTwiceChangesNothing() {
        let once = LogText.escaped("a\nb\\nc\u{1}")
        #expect(LogText.escaped(once) == once)
    }

    @Test func aLongMessageIsCutWithAMarkerSayingHowMuch() {
        let text = String(repeating: "a", count: 10_000)
        let out = LogText.escaped(text, limit: 4096)
        #expect(out.hasPrefix(String(repeating: "a", count: 4096) + " …[cut 5904 of 10000 bytes]"))
        #expect(LogText.escaped("short", limit: 4096) == "short")
        #expect(LogText.escaped(String(repeating: "b", count: 4096), limit: 4096) == String(repeating: "b", count: 4096))
    }

    @Test func theCutCountsOriginalBytesAndNeverSplitsACharacterOrAnEscape() {
        // Each newline becomes two bytes: 3 of them fit in 7 bytes, the 4th does not.
        #expect(LogText.escaped("\n\n\n\n\n", limit: 7) == #"\n\n\n"# + " …[cut 2 of 5 bytes]")
        // "é" is two bytes: a cut at 3 keeps one whole "é", never half of one.
        #expect(LogText.escaped("ééé", limit: 3) == "é …[cut 4 of 6 bytes]")
    }
}

@Suite struct OperatorLogHandlerTests {
    @Test func aTextLineIsTimeLevelLabelMetadataThenMessage() {
        let line = OperatorLogHandler.line(
            time: "2026-01-02T03:04:05.678Z", level: .info, label: "bulkhead", message: "call echo__echo by alice: ok in 0.5 ms",
            metadata: ["ms": .stringConvertible(0.5), "tool": "echo__echo", "principal": "alice", "outcome": "ok", "zeta": "z"],
            format: .text)
        #expect(line == "2026-01-02T03:04:05.678Z info bulkhead principal=alice tool=echo__echo outcome=ok ms=0.5 zeta=z: call echo__echo by alice: ok in 0.5 ms")
    }

    @Test func metadataValuesThatCouldConfuseTheLineAreQuoted() {
        let line = OperatorLogHandler.line(
            time: "T", level: .warning, label: "bulkhead", message: "m",
            metadata: ["tool": "a b", "kind": "x=y", "plugin": "p\nq", "tenant": "", "principal": #"say "hi""#],
            format: .text)
        #expect(line == #"T warning bulkhead plugin="p\nq" principal="say \"hi\"" tenant="" tool="a b" kind="x=y": m"#)
    }

    @Test func aJSONLineIsOneObjectWithTheFields() throws {
        let line = OperatorLogHandler.line(
            time: "T", level: .error, label: "plugin", message: "two\nlines",
            metadata: ["plugin": "forger", "ms": .stringConvertible(1.25), "n": .stringConvertible(3)], format: .json)
        #expect(!line.contains("\n"))
        let value = try JSONValue.parse(Array(line.utf8))
        let o = try #require(value.objectValue)
        #expect(o["time"] == .string("T"))
        #expect(o["level"] == .string("error"))
        #expect(o["label"] == .string("plugin"))
        #expect(o["message"] == .string("two\nlines"))
        let m = try #require(o["metadata"]?.objectValue)
        #expect(m["plugin"] == .string("forger"))
        #expect(m["ms"] == .double(1.25))
        #expect(m["n"] == .int(3))
    }

    @Test func theHandlerMergesItsMetadataWithTheEvent() {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "bulkhead") { label in
            OperatorLogHandler(label: label, format: .text, level: .info, sink: { line in lines.withLock { $0.append(line) } })
        }
        logger[metadataKey: "plugin"] = "docs"
        logger.debug("hidden")
        logger.info("shown\nhere", metadata: ["tool": "docs__search"])
        let got = lines.withLock { $0 }
        #expect(got.count == 1)
        #expect(got.first?.hasSuffix(#" info bulkhead plugin=docs tool=docs__search: shown\nhere"#) == true)
    }
}
