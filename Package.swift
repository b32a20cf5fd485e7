// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "timesheets",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "timesheets", targets: ["TimesheetServer"]),
        .library(name: "TimesheetDomain", targets: ["TimesheetDomain"]),
        .library(name: "TimesheetStore", targets: ["TimesheetStore"]),
        .library(name: "AuthKit", targets: ["AuthKit"]),
        .library(name: "AuthKitTesting", targets: ["AuthKitTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
    ],
    targets: [
        // Percent-decoding, the one rule the API (query strings, form bodies), the store (DATABASE_URL) and AuthKit
        // (a token in a query) share. The standard library only, so that depending on it costs nothing.
        .target(
            name: "PercentEncoding",
            swiftSettings: swiftSettings
        ),
        // The pure centre: value types, validation, use cases, the repository seam. Foundation only.
        .target(
            name: "TimesheetDomain",
            swiftSettings: swiftSettings
        ),
        // An in-memory repository and the behavioural contract every repository must pass.
        .target(
            name: "TimesheetDomainTesting",
            dependencies: ["TimesheetDomain"],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL system of record and the migrator.
        .target(
            name: "TimesheetStore",
            dependencies: [
                "TimesheetDomain",
                "PercentEncoding",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Swift concurrency's global jobs on NIO's event loops, as generic-executor jobs.
        .target(
            name: "EventLoopConcurrency",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A private PostgreSQL cluster under a folder of ours (initdb, pg_ctl): for tests, benchmarks and dev mode,
        // never for `serve` or `migrate`.
        .target(
            name: "LocalPostgres",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Reusable JWT bearer verification. Knows nothing about timesheets.
        .target(
            name: "AuthKit",
            dependencies: [
                "PercentEncoding",
                .product(name: "Crypto", package: "swift-crypto"),
                // RSA verification without jwt-kit's generic path.
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),  // AsyncHTTPClient's header and status types
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        // A token issuer with a JWKS/discovery server on 127.0.0.1: tests and dev mode mint tokens with it.
        .target(
            name: "AuthKitTesting",
            dependencies: [
                "AuthKit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),  // RSA key generation for test tokens
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The deployed HTTP API: settings, the router, controllers, middleware and `APIServer`, which composes the
        // store, AuthKit and the domain into one service group. Nothing here may depend on a test kit or on the dev
        // tools (tests/python/test_module_graph.py fails if it does).
        .target(
            name: "TimesheetAPI",
            dependencies: [
                "TimesheetDomain",
                "TimesheetStore",
                "AuthKit",
                "PercentEncoding",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Crypto", package: "swift-crypto"),  // SHA-256 of bodies sent with an Idempotency-Key
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),  // the log writer's condition lock
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            resources: [.copy("Resources/web"), .copy("Resources/openapi.json")],
            swiftSettings: swiftSettings
        ),
        // Tools for a developer's machine, never for a deployment: the dev identity provider with its seeded
        // accounts and signing key, and seed data.
        .target(
            name: "TimesheetDevTools",
            dependencies: [
                "TimesheetDomain",
                "TimesheetAPI",
                "AuthKit",
                "AuthKitTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `timesheets` command: `serve` and `migrate` run the deployed code; `dev` and `token` wire in the dev
        // tools.
        .executableTarget(
            name: "TimesheetServer",
            dependencies: [
                "EventLoopConcurrency",
                "TimesheetDomain",
                "TimesheetStore",
                "TimesheetAPI",
                "TimesheetDevTools",
                "LocalPostgres",
                "AuthKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // Release-mode benchmark executables that print figures (never timed tests).
        .executableTarget(
            name: "AuthKitBench",
            dependencies: [
                "AuthKit",
                "AuthKitTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),  // the bare RSA verify, as a floor
                .product(name: "HTTPTypes", package: "swift-http-types"),  // request headers for DPoP
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Benchmarks/AuthKitBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "StoreBench",
            dependencies: [
                "TimesheetDomain",
                "TimesheetStore",
                "LocalPostgres",
                "EventLoopConcurrency",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/StoreBench",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PercentEncodingTests",
            dependencies: ["PercentEncoding"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TimesheetDomainTests",
            dependencies: ["TimesheetDomain", "TimesheetDomainTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TimesheetStoreTests",
            dependencies: [
                "TimesheetDomain",
                "TimesheetDomainTesting",
                "TimesheetStore",
                "LocalPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthKitTests",
            dependencies: [
                "AuthKit",
                "AuthKitTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TimesheetServerTests",
            dependencies: [
                "TimesheetServer",
                "TimesheetAPI",
                "TimesheetDevTools",
                "LocalPostgres",
                "TimesheetDomain",
                "TimesheetDomainTesting",
                "TimesheetStore",
                "AuthKit",
                "AuthKitTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
