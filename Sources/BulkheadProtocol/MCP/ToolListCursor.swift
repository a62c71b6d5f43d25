/// The opaque `nextCursor` of `tools/list`, and its check when a client sends it back.
///
/// Stateless by design (the 2026-07-28 era forbids remembering earlier
/// requests): the cursor carries the offset of the next page plus a tag over
/// that offset and the name of the tool found there, keyed with a per-process
/// random salt. A cursor this process did not issue, or one whose position
/// no longer holds the same tool because the list changed, fails the check,
/// and the client gets -32602 and starts again from the first page.
enum ToolListCursor {
    private static let prefix = "bh1."
    /// Per-process key, so cursors are not guessable and not portable across restarts.
    private static let salt = UInt64.random(in: .min ... .max)

    static func make(offset: Int, tools: [ToolDescriptor]) -> String {
        make(offset: offset, name: tools[offset].name)
    }

    /// A cursor into any list, tied to the name of the entry it points at.
    static func make(offset: Int, name: String) -> String {
        prefix + String(offset, radix: 36) + "." + hex(tag(offset: offset, name: name))
    }

    static func offset(of cursor: String, in tools: [ToolDescriptor]) -> Int? {
        offset(of: cursor, count: tools.count) { tools[$0].name }
    }

    /// The offset a cursor points at, or nil if this server did not issue it for this list.
    static func offset(of cursor: String, count: Int, name: (Int) -> String) -> Int? {
        guard cursor.hasPrefix(prefix) else { return nil }
        let body = cursor.utf8.dropFirst(prefix.utf8.count)
        guard let dot = body.firstIndex(of: UInt8(ascii: ".")),
            let offsetText = String(body[body.startIndex..<dot]),
            let offset = Int(offsetText, radix: 36),
            let tagText = String(body[body.index(after: dot)...]),
            tagText.utf8.count == 16, let tag = UInt64(tagText, radix: 16)
        else { return nil }
        guard offset > 0, offset < count, tag == self.tag(offset: offset, name: name(offset)) else {
            return nil
        }
        return offset
    }

    /// FNV-1a over salt, offset and tool name: integrity against typos and
    /// forgeries of convenience, not a cryptographic seal (a cursor grants nothing).
    private static func tag(offset: Int, name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: salt >> UInt64(shift))) }
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: UInt64(offset) >> UInt64(shift))) }
        for byte in name.utf8 { mix(byte) }
        return hash
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
