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
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
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
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Streamable HTTP (both eras), bearer-token authentication (API tokens, OAuth JWTs),
        // protected-resource metadata and the metrics listener. Knows nothing of plugins.
        .target(
            name: "BulkheadHTTP",
            dependencies: [
                "BulkheadProtocol",
                "CHTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The CLI: wires a transport to the core.
        .executableTarget(
            name: "bulkhead",
            dependencies: [
                "BulkheadCore",
                "BulkheadProtocol",
                "BulkheadHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "BulkheadProtocolTests", dependencies: ["BulkheadProtocol"]),
        .testTarget(name: "BulkheadCoreTests", dependencies: ["BulkheadCore", "BulkheadProtocol"]),
        .testTarget(name: "BulkheadHTTPTests", dependencies: ["BulkheadHTTP", "BulkheadProtocol"]),
    ],
    swiftLanguageModes: [.v6]
)
