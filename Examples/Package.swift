// swift-tools-version:6.2
import PackageDescription

// The Twisted tutorial's other servers, built on Switchboard's public parts (see README.md here). A package of
// its own, so the server's manifest ships only the server, and the examples' HTTP client stays out of its build.
let package = Package(
    name: "switchboard-examples",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The server's package, by path: the examples build against the working tree they sit in.
        .package(name: "switchboard", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .executableTarget(name: "upper", dependencies: common),
        .executableTarget(name: "counting", dependencies: common),
        .executableTarget(name: "proxy", dependencies: common + fetching),
        .executableTarget(name: "caching-proxy", dependencies: common + fetching),
        // What both proxies share: one line → a checked URL → a bounded fetch → a page or a one-line error.
        .target(
            name: "PageFetching",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SwitchboardProtocol", package: "switchboard"),
            ]
        ),
        // Real sockets: every example served in-process on port 0, against a local HTTP server the tests start.
        .testTarget(
            name: "ExamplesTests",
            dependencies: [
                "upper", "counting", "proxy", "caching-proxy", "PageFetching",
                .product(name: "SwitchboardProtocol", package: "switchboard"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

/// What every example uses: the project's parts, NIO, a logger and the command line.
var common: [Target.Dependency] {
    [
        .product(name: "SwitchboardProtocol", package: "switchboard"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]
}

var fetching: [Target.Dependency] {
    ["PageFetching", .product(name: "AsyncHTTPClient", package: "async-http-client")]
}
