// swift-tools-version:6.2
// The benchmark tooling, kept out of the product's manifest (the way swift-nio keeps
// Benchmarks/Package.swift): the root package builds and ships only the server.
//
//   swift build -c release --package-path Benchmarks --product switchboard-bench
//   swift test --package-path Benchmarks          # the tool against a tiny in-test broadcast server
//
// Benchmarks/run.sh measures with the C load generator in loadgen/, not with this tool.
import PackageDescription

let package = Package(
    name: "switchboard-benchmarks",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchboard-bench", targets: ["switchboard-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // A SwiftNIO client for any line chat server (see Benchmarks/README.md).
        .executableTarget(
            name: "switchboard-bench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "SwitchboardBenchTests",
            dependencies: [
                "switchboard-bench",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
