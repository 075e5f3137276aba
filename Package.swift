// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "switchboard",
    // macOS 15: swift-configuration's floor.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        // For servers built on Switchboard's parts (Examples/): endpoints and binding them, telnet line framing,
        // the blocking-call guard.
        .library(name: "SwitchboardProtocol", targets: ["SwitchboardProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The web listener's metrics (issue 25): swift-metrics' API with an injected factory, exported by
        // swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // TLS for ssl: endpoints (BoringSSL, compiled in: no system OpenSSL needed).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The configuration file (--config, YAML or JSON) and SWITCHBOARD_* environment variables.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: ["JSON", "YAML"]),
        // Lists a configuration file's keys (so a misspelt one is an error); also ComposeFileTests.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // scrypt for operator and nickname passwords (CryptoExtras: BoringSSL's KDFs, no hand-written crypto).
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // C interop: two tiny system library targets, nothing else touches C headers.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),

        // Pure protocol pieces: endpoints, telnet line framing, text sanitising, command parsing; and the few
        // NIOPosix helpers any server on them needs (binding an endpoint, the blocking-call guard).
        .target(
            name: "SwitchboardProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The database: the two C libraries behind one connection protocol, the deferToThread-style pool, typed
        // errors, values and rows, URLs parsed once, migrations (embedded at build time).
        .target(
            name: "SwitchboardDatabase",
            dependencies: [
                "CSQLite", "CLibPQ", "SwitchboardProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            plugins: ["EmbedMigrations"]
        ),
        // History: what happened, written behind the chat (repository, SQL, the write-behind machine and its
        // writer, the spool), and the servers table (registration, heartbeat, liveness).
        .target(
            name: "SwitchboardHistory",
            dependencies: [
                "SwitchboardDatabase", "SwitchboardProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Several servers as one chat: the NOTIFY transport, the wire format, name claims, the coordinator.
        .target(
            name: "SwitchboardCluster",
            dependencies: [
                "SwitchboardDatabase", "SwitchboardHistory", "SwitchboardProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Moderation: operators and password hashes, bans (a pure BanList with lookups, not scans), mutes, the
        // MOTD, registered nicknames and the moderation log, stored through the pool.
        .target(
            name: "SwitchboardModeration",
            dependencies: [
                "SwitchboardDatabase", "SwitchboardProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Build tool: embeds Migrations/*/*.sql into SwitchboardDatabase (see Plugins/EmbedMigrations).
        .executableTarget(name: "switchboard-embed-migrations"),
        // Benchmarks/run.sh's NIO floor: relay.c's protocol on SwiftNIO alone (see its header).
        .executableTarget(
            name: "nio-floor",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            path: "Benchmarks/nio-floor"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["switchboard-embed-migrations"]
        ),
        // The chat: hub (the Factory), one session per connection, the server service.
        .target(
            name: "SwitchboardChat",
            dependencies: [
                "SwitchboardProtocol", "SwitchboardDatabase", "SwitchboardHistory", "SwitchboardCluster",
                "SwitchboardModeration",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The browser and the dashboard (issue 25): an HTTP/1.1 listener serving the chat page, `/chat` over
        // WebSocket into the same sessions as telnet, `/stats` and `/api/stats` from the history, and the
        // Prometheus endpoint. Its page, styles and scripts are embedded in the binary.
        .target(
            name: "SwitchboardWeb",
            dependencies: [
                "SwitchboardChat", "SwitchboardDatabase", "SwitchboardHistory", "SwitchboardProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [
                .embedInCode("Assets/index.html"), .embedInCode("Assets/chat.js"), .embedInCode("Assets/stats.html"),
                .embedInCode("Assets/stats.js"), .embedInCode("Assets/style.css"),
            ]
        ),
        // The thin executable: parses options, builds the parts, runs them.
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "SwitchboardChat", "SwitchboardDatabase", "SwitchboardHistory", "SwitchboardProtocol",
                "SwitchboardModeration", "SwitchboardWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // Shared by the test targets: strict mode and skips, throwaway databases, processes, ports, seeded randomness.
        .target(
            name: "SwitchboardTestSupport",
            dependencies: ["SwitchboardDatabase", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SwitchboardTestSupport"
        ),
        .testTarget(
            name: "SwitchboardProtocolTests",
            dependencies: ["SwitchboardProtocol", "SwitchboardTestSupport", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "SwitchboardDatabaseTests",
            dependencies: ["SwitchboardDatabase", "SwitchboardTestSupport", .product(name: "Yams", package: "Yams"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "SwitchboardHistoryTests",
            dependencies: ["SwitchboardHistory", "SwitchboardDatabase", "SwitchboardTestSupport",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "SwitchboardClusterTests",
            dependencies: ["SwitchboardCluster", "SwitchboardHistory", "SwitchboardDatabase", "SwitchboardTestSupport",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "SwitchboardModerationTests",
            dependencies: ["SwitchboardModeration", "SwitchboardDatabase", "SwitchboardTestSupport",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "SwitchboardChatTests",
            dependencies: ["SwitchboardChat", "SwitchboardProtocol", "SwitchboardDatabase", "SwitchboardHistory",
                           "SwitchboardCluster", "SwitchboardModeration", "SwitchboardTestSupport",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        // The web listener: HTTP hardening, WebSocket framing and limits, the stats queries on SQLite and
        // PostgreSQL, the metrics; real sockets, in-process servers; the browser tests drive headless Chromium.
        .testTarget(
            name: "SwitchboardWebTests",
            dependencies: ["SwitchboardWeb", "SwitchboardChat", "SwitchboardDatabase", "SwitchboardHistory", "SwitchboardProtocol",
                           "SwitchboardTestSupport",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOWebSocket", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // Real sockets, real databases, the real binary. PostgreSQL via SWITCHBOARD_TEST_POSTGRES_URL.
        .testTarget(
            name: "SwitchboardEndToEndTests",
            dependencies: ["switchboard", "SwitchboardChat", "SwitchboardDatabase", "SwitchboardHistory", "SwitchboardCluster",
                           "SwitchboardModeration",
                           "SwitchboardTestSupport", "SwitchboardProtocol",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
