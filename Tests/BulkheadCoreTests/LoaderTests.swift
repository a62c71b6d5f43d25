#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol
import Foundation
import Logging
import Testing

@testable import BulkheadCore

/// Loads real plugins, compiled here with the system C compiler from the real header.
@Suite(.serialized) struct LoaderTests {
    static let repoRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/BulkheadCoreTests/LoaderTests.swift
        return parts.joined(separator: "/")
    }()

    static let manifest = """
        name = "%NAME%"
        version = "0.1.0"
        abi = "1.1"
        library = "libp.so"
        description = "A test plugin."
        [[tools]]
        name = "add"
        description = "Sum."
        access = "read"
        input_schema = { type = "object" }
        [[tools]]
        name = "keep"
        description = "Keeps its call handle."
        access = "read"
        input_schema = { type = "object" }
        [[tools]]
        name = "reuse"
        description = "Uses the kept handle."
        access = "read"
        input_schema = { type = "object" }
        """

    static let source = """
        #include <bulkhead/bulkhead.h>
        #include <stdio.h>
        static bh_call kept;
        static bh_status add(const bh_host_api *h, bh_call c, void *u) {
            (void)u; int64_t a, b;
            if (h->arg_int(c, BH_LIT("a"), &a) != BH_OK || h->arg_int(c, BH_LIT("b"), &b) != BH_OK)
                return h->result_error(c, BH_ERROR_INVALID_ARGUMENT, BH_LIT("a and b must be integers"));
            char t[32]; int n = snprintf(t, sizeof t, "%lld", (long long)(a + b));
            return h->result_text(c, t, (size_t)n);
        }
        static bh_status keep(const bh_host_api *h, bh_call c, void *u) {
            (void)u; kept = c; return h->result_text(c, BH_LIT("kept"));
        }
        static bh_status reuse(const bh_host_api *h, bh_call c, void *u) {
            (void)u; char t[64];
            bh_call forged = { 12345 };
            int n = snprintf(t, sizeof t, "%d %d", (int)h->result_text(kept, BH_LIT("x")), (int)h->result_text(forged, BH_LIT("x")));
            return h->result_text(c, t, (size_t)n);
        }
        BULKHEAD_PLUGIN_ABI()
        bh_status bulkhead_plugin_init(const bh_host_api *h, bh_plugin p, bh_plugin_def *d) {
            d->concurrency = BH_CONCURRENCY_PARALLEL;
            bh_status s = h->register_tool(p, BH_LIT("add"), add, NULL);
            if (s == BH_OK) s = h->register_tool(p, BH_LIT("keep"), keep, NULL);
            if (s == BH_OK) s = h->register_tool(p, BH_LIT("reuse"), reuse, NULL);
            #ifdef EXTRA_TOOL
            if (s == BH_OK) s = h->register_tool(p, BH_LIT("extra"), add, NULL);
            #endif
            #ifdef FAIL_INIT
            return BH_E_FAILED;
            #endif
            return s;
        }
        """

    /// Writes and compiles a plugin folder `name` under `dir`.
    static func plugin(_ dir: TempDir, _ name: String, source: String = source, defines: [String] = [],
                       manifest: String = manifest) -> String {
        let folder = dir.mkdir(name)
        dir.write("\(name)/manifest.toml", manifest.replacingOccurrences(of: "%NAME%", with: name))
        // In-process: beside the test runner there is no bulkhead-worker. The worker
        // tier is tested end to end against the built binaries (Tests/e2e/test_isolation.py).
        dir.write("\(name)/policy.toml", "[[allow]]\ntools = [\"*\"]\nprincipals = [\"*\"]\n\n[runtime]\nisolation = \"in-process\"\n")
        dir.write("\(name)/p.c", source)
        let status = run("/usr/bin/cc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                                         "-I\(repoRoot)/include"] + defines.map { "-D\($0)" }
                                         + ["-o", "\(folder)/libp.so", "\(folder)/p.c"])
        precondition(status == 0, "cc failed for \(name)")
        return folder
    }

    static let logger = Logger(label: "test")

    static func call(_ host: PluginHost, _ name: String, _ args: JSONObject = [:]) -> ToolCallOutcome {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: ToolCallOutcome?
        _ = host.callTool(name: name, arguments: args, context: RequestContext(era: .handshake(version: "2025-11-25"))) {
            outcome = $0
            done.signal()
        }
        done.wait()
        return outcome!
    }

    static func text(_ outcome: ToolCallOutcome) -> String? {
        guard case .result(let r) = outcome else { return nil }
        return r.content.first?["text"]?.stringValue
    }

    @Test func loadsAndCallsAPlugin() throws {
        let dir = try TempDir()
        _ = Self.plugin(dir, "calc")
        let host = PluginHost(directory: dir.path, logger: Self.logger)
        #expect(host.pluginNames == ["calc"])
        #expect(host.tools(for: RequestContext(era: .handshake(version: "2025-11-25"))).map(\.name)
                == ["calc__add", "calc__keep", "calc__reuse"])
        #expect(Self.text(Self.call(host, "calc__add", ["a": 40, "b": 2])) == "42")
        guard case .result(let bad) = Self.call(host, "calc__add", ["a": "x"]) else { Issue.record(); return }
        #expect(bad.isError)
        #expect(bad.structuredContent?["kind"] == "invalid_argument")
        guard case .unknownTool = Self.call(host, "calc.nope") else { Issue.record(); return }
        host.shutdown()
    }

    @Test func staleAndForgedCallHandlesAreRefused() throws {
        let dir = try TempDir()
        _ = Self.plugin(dir, "calc")
        let host = PluginHost(directory: dir.path, logger: Self.logger)
        #expect(Self.text(Self.call(host, "calc__keep")) == "kept")
        // BH_E_STALE is -5: both the kept (returned) handle and the forged one are refused.
        #expect(Self.text(Self.call(host, "calc__reuse")) == "-5 -5")
        host.shutdown()
    }

    @Test func refusesEachBrokenPluginAndKeepsTheRest() throws {
        let dir = try TempDir()
        _ = Self.plugin(dir, "good")
        _ = Self.plugin(dir, "extra", defines: ["EXTRA_TOOL"])
        _ = Self.plugin(dir, "failing", defines: ["FAIL_INIT"])
        _ = Self.plugin(dir, "wrongabi", manifest: Self.manifest.replacingOccurrences(of: "abi = \"1.1\"", with: "abi = \"2.0\""))
        let twin = Self.plugin(dir, "twin")
        dir.write("twin/manifest.toml", Self.manifest.replacingOccurrences(of: "%NAME%", with: "good"))
        _ = twin
        let nolib = dir.mkdir("nolib")
        dir.write("nolib/manifest.toml", Self.manifest.replacingOccurrences(of: "%NAME%", with: "nolib"))
        _ = nolib
        _ = dir.mkdir("notaplugin")  // no manifest: skipped silently

        let host = PluginHost(directory: dir.path, logger: Self.logger)
        #expect(host.pluginNames == ["good"])
        let reasons = Dictionary(uniqueKeysWithValues: host.refusals.map { ($0.folder, $0.reason) })
        #expect(reasons.keys.sorted() == ["extra", "failing", "nolib", "twin", "wrongabi"])
        #expect(reasons["extra"]?.contains("tool 'extra' registered by the plugin is not in the manifest") == true)
        #expect(reasons["failing"]?.contains("init failed") == true)
        #expect(reasons["failing"]?.contains("BH_E_FAILED") == true)
        #expect(reasons["wrongabi"]?.contains("2.0") == true && reasons["wrongabi"]?.contains("1.1") == true)
        #expect(reasons["twin"]?.contains("already taken") == true)
        #expect(reasons["nolib"]?.contains("libp.so") == true)
        #expect(Self.text(Self.call(host, "good__add", ["a": 1, "b": 2])) == "3")
        host.shutdown()
    }

    @Test func checkReportsLibraryABIAndTools() throws {
        let dir = try TempDir()
        let folder = Self.plugin(dir, "calc")
        let report = PluginCheckReport.run(folder: folder, logger: Self.logger)
        #expect(report.ok)
        #expect(report.libraryABI == "1.1")
        #expect(report.concurrency == "parallel")
        #expect(report.tools.map(\.name) == ["add", "keep", "reuse"])
    }
}
