// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Bulkhead",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bulkhead", targets: ["bulkhead"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // The C ABI (include/bulkhead/bulkhead.h) as a Swift module, plus small syscall shims.
        .target(name: "CBulkhead"),
        // Outbound HTTP for the http capability: libcurl's easy interface behind a small C API,
        // opened with dlopen on first use (see http_client.c).
        .target(name: "CHTTPClient"),
        // JSON, JSON-RPC and MCP of both protocol eras, and the stdio transport. Knows nothing of plugins.
        .target(name: "BulkheadProtocol"),
        // Plugins: manifests, the loader, the host table, executors and the tool registry. Knows nothing of transports.
        .target(
            name: "BulkheadCore",
            dependencies: [
                "CBulkhead",
                "CHTTPClient",
                "BulkheadProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The CLI: wires a transport to the core.
        .executableTarget(
            name: "bulkhead",
            dependencies: [
                "BulkheadCore",
                "BulkheadProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "BulkheadProtocolTests", dependencies: ["BulkheadProtocol"]),
        .testTarget(name: "BulkheadCoreTests", dependencies: ["BulkheadCore", "BulkheadProtocol"]),
    ],
    swiftLanguageModes: [.v6]
)
