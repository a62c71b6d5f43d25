#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import CBulkhead
import Testing

@testable import BulkheadCore

/// The core's half of the worker channel: frames and their fields, and the
/// `[runtime]` table that chooses the tier.
@Suite struct WorkerChannelTests {
    @Test func aFrameIsItsLengthHeaderAndPayloadLittleEndian() {
        let frame = WorkerFrame(op: BHW_CALL, call: 0x0102_0304_0506_0708, seq: 9, payload: [0xAA, 0xBB])
        let bytes = frame.encoded()
        #expect(bytes.count == WorkerFrame.headerSize + 2)
        #expect(Array(bytes[0..<4]) == [22, 0, 0, 0])  // 20 header bytes after the length, 2 of payload
        #expect(Array(bytes[4..<6]) == [UInt8(BHW_CALL.rawValue), 0])
        #expect(Array(bytes[8..<16]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(bytes[16] == 9)
        #expect(Array(bytes[24...]) == [0xAA, 0xBB])
    }

    @Test func fieldsComeBackInOrder() throws {
        var w = FieldWriter()
        w.u32(7)
        w.i64(-5)
        w.f64(2.5)
        w.data(Array("key".utf8))
        w.data([UInt8]())
        var r = FieldReader(w.bytes)
        #expect(try r.u32() == 7)
        #expect(try r.i64() == -5)
        #expect(Double(bitPattern: try r.u64()) == 2.5)
        #expect(try r.data() == Array("key".utf8))
        #expect(try r.data().isEmpty)
        try r.end()
    }

    @Test func aFieldPastTheEndOrTrailingBytesAreMalformed() {
        var w = FieldWriter()
        w.u32(1000)  // a length with no bytes behind it
        var r = FieldReader(w.bytes)
        #expect(throws: FieldReader.Malformed.self) { _ = try r.data() }
        var short = FieldReader([1, 2, 3])
        #expect(throws: FieldReader.Malformed.self) { _ = try short.u32() }
        var long = FieldReader([1, 0, 0, 0, 9])
        #expect(throws: Never.self) { _ = try long.u32() }
        #expect(throws: FieldReader.Malformed.self) { try long.end() }
    }

    @Test func theWorkerTierIsTheDefault() {
        var problems: [String] = []
        let runtime = RuntimePolicy.parse(nil, problems: &problems)
        #expect(runtime.isolation == .worker)
        #expect(problems.isEmpty)
        #expect(PluginPolicy.none.runtime.isolation == .worker)
    }

    @Test func runtimeKeysAreReadAndWrongOnesNamed() {
        var problems: [String] = []
        let runtime = RuntimePolicy.parse(.object(["isolation": "in-process", "memory_mb": .int(64), "cpu_seconds": .int(10),
                                                   "open_files": .int(32), "restart_budget": .int(1),
                                                   "cancel_grace_ms": .int(50)]), problems: &problems)
        #expect(problems.isEmpty)
        #expect(runtime.isolation == .inProcess)
        #expect(runtime.memoryBytes == 64 << 20)
        #expect(runtime.cpuSeconds == 10 && runtime.openFiles == 32)
        #expect(runtime.restartBudget == 1 && runtime.cancelGraceMilliseconds == 50)

        _ = RuntimePolicy.parse(.object(["isolation": "sandbox", "memory_mb": .int(1), "threads": .int(2)]), problems: &problems)
        #expect(problems.contains { $0.contains(#"runtime.isolation must be "worker" or "in-process""#) })
        #expect(problems.contains { $0.contains("runtime.memory_mb must be an integer from 16") })
        #expect(problems.contains { $0.contains("unknown key runtime.threads") })
    }

    @Test func wallsAreNamedInOrder() {
        #expect(WorkerRuntime.wallNames(WorkerRuntime.allWalls) == [
            "user-namespace", "mount-namespace", "network-namespace", "pid-namespace", "landlock", "seccomp", "rlimits",
            "no-new-privs", "not-dumpable",
        ])
        #expect(WorkerRuntime.wallNames(BHW_WALL_SECCOMP.rawValue) == ["seccomp"])
    }

    @Test func aDeathIsDescribedByItsSignal() {
        #expect(WorkerProcess.describe(3 << 8) == "exited with status 3")
        #expect(WorkerProcess.describe(SIGSYS).contains("seccomp"))
        #expect(WorkerProcess.describe(SIGKILL) == "killed by SIGKILL")
    }
}
