// swift-tools-version:6.0
import PackageDescription

// Module chain (strictly upward): COpenBLAS → Tensor → Autograd → GPT → SAE → Training → Experiments,
// executables on top under Sources/Tools/<Name>.
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
  name: "GPTCircuits",
  products: [
    .library(name: "Tensor", targets: ["Tensor"]),
    .library(name: "Autograd", targets: ["Autograd"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    .systemLibrary(
      name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: v5),
    .target(name: "Autograd", dependencies: ["Tensor"], swiftSettings: v5),
    .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")], swiftSettings: v5),
    .testTarget(name: "AutogradTests", dependencies: ["Autograd"], swiftSettings: v5),
  ]
)
