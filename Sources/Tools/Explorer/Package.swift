// swift-tools-version:6.0
import PackageDescription

// The feature explorer: `index-features` (a SQLite feature index beside a sparsified checkpoint, via GRDB; target
// FeatureIndexStore) and `explore` (a local web app, via Hummingbird; target ExplorerCore). A package of its own
// on top of the root package (`../../..`), so the root's `swift test` and library users never build NIO or GRDB.
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
  name: "Explorer",
  products: [
    .executable(name: "index-features", targets: ["IndexFeatures"]),
    .executable(name: "explore", targets: ["Explore"]),
  ],
  dependencies: [
    .package(name: "GPTCircuits", path: "../../.."),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
  ],
  targets: [
    // The feature index's SQLite file (GRDB), without the web server: `index-features` builds on this alone.
    .target(
      name: "FeatureIndexStore",
      dependencies: [
        .product(name: "Experiments", package: "GPTCircuits"),
        .product(name: "GRDB", package: "GRDB.swift"),
      ],
      swiftSettings: v5),
    .target(
      name: "ExplorerCore",
      dependencies: [
        "FeatureIndexStore",
        .product(name: "Experiments", package: "GPTCircuits"),
        .product(name: "Hummingbird", package: "hummingbird"),
      ],
      swiftSettings: v5),
    .executableTarget(
      name: "IndexFeatures",
      dependencies: ["FeatureIndexStore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: v5),
    .executableTarget(
      name: "Explore",
      dependencies: [
        "ExplorerCore", "FeatureIndexStore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: v5),
    .testTarget(
      name: "ExplorerTests",
      dependencies: ["ExplorerCore", "FeatureIndexStore", .product(name: "HummingbirdTesting", package: "hummingbird")],
      swiftSettings: v5),
  ]
)
