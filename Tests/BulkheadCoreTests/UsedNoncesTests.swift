#if canImport(Glibc)
import Glibc
#endif
import Testing

@testable import BulkheadCore

@Suite struct UsedNoncesTests {
    static func nonce(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 32 - hex.count) + hex
    }

    @Test func inMemoryANonceIsUsedOnce() {
        let used = UsedNonces()
        #expect(used.claim(Self.nonce(1), expiry: 100, now: 0) == .fresh)
        #expect(used.claim(Self.nonce(1), expiry: 100, now: 1) == .used)
        #expect(used.claim(Self.nonce(2), expiry: 100, now: 1) == .fresh)
    }

    @Test func aFolderRemembersAcrossInstances() throws {
        let dir = try TempDir()
        let folder = dir.path + "/state"
        do {
            let first = try UsedNonces(directory: folder, now: 0)
            #expect(first.claim(Self.nonce(1), expiry: 1000, now: 0) == .fresh)
        }
        let second = try UsedNonces(directory: folder, now: 10)
        #expect(second.claim(Self.nonce(1), expiry: 1000, now: 10) == .used)
        #expect(second.claim(Self.nonce(2), expiry: 1000, now: 10) == .fresh)
        let text = FileIO.readText(folder + "/" + UsedNonces.fileName) ?? ""
        #expect(text == UsedNonces.record(nonce: Self.nonce(1), expiry: 1000) + UsedNonces.record(nonce: Self.nonce(2), expiry: 1000))
        #expect(UsedNonces.record(nonce: Self.nonce(1), expiry: 1000).utf8.count == UsedNonces.recordLength)
    }

    @Test func twoOpenInstancesSeeEachOthersClaims() throws {
        // Two open file descriptions of the same folder: what two processes have.
        let dir = try TempDir()
        let a = try UsedNonces(directory: dir.path, now: 0)
        let b = try UsedNonces(directory: dir.path, now: 0)
        #expect(a.claim(Self.nonce(7), expiry: 1000, now: 1) == .fresh)
        #expect(b.claim(Self.nonce(7), expiry: 1000, now: 2) == .used)
        #expect(b.claim(Self.nonce(8), expiry: 1000, now: 2) == .fresh)
        #expect(a.claim(Self.nonce(8), expiry: 1000, now: 3) == .used)
    }

    @Test func racingInstancesLetEachNonceThroughOnce() async throws {
        let dir = try TempDir()
        let stores = try (0..<4).map { _ in try UsedNonces(directory: dir.path, now: 0) }
        let wins = await withTaskGroup(of: Int.self) { group in
            for store in stores {
                group.addTask { (0..<50).filter { store.claim(Self.nonce($0), expiry: 1000, now: 1) == .fresh }.count }
            }
            return await group.reduce(0, +)
        }
        #expect(wins == 50)
    }

    @Test func theStartDropsExpiredAndTornRecords() throws {
        let dir = try TempDir()
        let path = dir.path + "/" + UsedNonces.fileName
        let now = 50 + UsedNonces.keptPastExpiry  // nonce 1 expired, and its grace for slow clocks is over
        let later = now + 1000
        dir.write(UsedNonces.fileName,
                  UsedNonces.record(nonce: Self.nonce(1), expiry: 50)
                  + UsedNonces.record(nonce: Self.nonce(2), expiry: later)
                  + "0000torn\n"
                  + UsedNonces.record(nonce: Self.nonce(3), expiry: 100)  // expired, still in its grace
                  + "00000000half-written")
        let store = try UsedNonces(directory: dir.path, now: now)
        #expect(FileIO.readText(path) == UsedNonces.record(nonce: Self.nonce(2), expiry: later)
                + UsedNonces.record(nonce: Self.nonce(3), expiry: 100))
        #expect(store.claim(Self.nonce(2), expiry: later, now: now) == .used)
        #expect(store.claim(Self.nonce(3), expiry: 100, now: now) == .used)
    }

    @Test func aRecordAfterATornOneStartsOnItsOwnLine() throws {
        let dir = try TempDir()
        let a = try UsedNonces(directory: dir.path, now: 0)
        // Another process died half-way through its record.
        let fd = open(dir.path + "/" + UsedNonces.fileName, O_WRONLY | O_APPEND)
        _ = Array("00000000half".utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(a.claim(Self.nonce(5), expiry: 1000, now: 1) == .fresh)
        let b = try UsedNonces(directory: dir.path, now: 2)
        #expect(b.claim(Self.nonce(5), expiry: 1000, now: 2) == .used)
    }

    @Test func aPruneByAnotherInstanceIsFollowed() throws {
        let dir = try TempDir()
        let path = dir.path + "/" + UsedNonces.fileName
        let old = try UsedNonces(directory: dir.path, now: 0)
        let far = 10 * UsedNonces.keptPastExpiry
        #expect(old.claim(Self.nonce(1), expiry: 10, now: 0) == .fresh)
        #expect(old.claim(Self.nonce(2), expiry: far, now: 0) == .fresh)
        // A new process starts after nonce 1 expired and rewrites the file without it.
        let now = 11 + UsedNonces.keptPastExpiry
        let new = try UsedNonces(directory: dir.path, now: now)
        #expect(FileIO.readText(path) == UsedNonces.record(nonce: Self.nonce(2), expiry: far))
        #expect(new.claim(Self.nonce(3), expiry: far, now: now) == .fresh)
        // The old process must see what was appended to the replacement.
        #expect(old.claim(Self.nonce(3), expiry: far, now: now) == .used)
        #expect(new.claim(Self.nonce(2), expiry: far, now: now) == .used)
        #expect(old.claim(Self.nonce(4), expiry: far, now: now) == .fresh)
        #expect(new.claim(Self.nonce(4), expiry: far, now: now) == .used)
    }

    @Test func aFolderThatCannotBeMadeIsAnError() {
        #expect(throws: UsedNonces.OpenError.self) { try UsedNonces(directory: "/proc/no-such/state", now: 0) }
    }

    @Test func aSealedNonceHasAFixedLength() {
        let seal = ConsentSeal(key: Array("0123456789abcdef0123456789abcdef".utf8), ttlMilliseconds: 1000)
        for _ in 0..<200 {
            let state = seal.seal(principal: "p", tool: "t", digest: "d", now: 0)
            let payload = Base64URL.decode(state.split(separator: ".")[0]) ?? []
            let text = String(decoding: payload, as: UTF8.self)
            guard let range = text.range(of: #""n":""#) else { Issue.record("no nonce in \(text)"); return }
            let nonce = text[range.upperBound...].prefix { $0 != "\"" }
            #expect(nonce.count == ConsentSeal.nonceLength && nonce.utf8.allSatisfy { UsedNonces.isLowerHex($0) }, "\(nonce)")
        }
    }
}
