// swift-tools-version:6.0
import PackageDescription

// Module chain (strictly upward): COpenBLAS → Tensor → Autograd → GPT → SAE → Training → Experiments,
// executables on top under Sources/Tools/<Name>.
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
  name: "GPTCircuits",
  products: [
    .executable(name: "bench", targets: ["Bench"]),
    .executable(name: "train-gpt", targets: ["TrainGPT"]),
    .executable(name: "evaluate", targets: ["Evaluate"]),
    .executable(name: "generate", targets: ["Generate"]),
    .library(name: "Tensor", targets: ["Tensor"]),
    .library(name: "Autograd", targets: ["Autograd"]),
    .library(name: "GPT", targets: ["GPT"]),
    .library(name: "SAE", targets: ["SAE"]),
    .library(name: "Training", targets: ["Training"]),
    .executable(name: "prepare-data", targets: ["PrepareData"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    .executableTarget(
      name: "Bench", dependencies: ["GPT", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Bench", swiftSettings: v5),
    .systemLibrary(
      name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: v5),
    .target(name: "Autograd", dependencies: ["Tensor"], swiftSettings: v5),
    .target(name: "GPT", dependencies: ["Autograd"], swiftSettings: v5),
    .target(name: "SAE", dependencies: ["GPT"], swiftSettings: v5),
    .target(name: "Training", dependencies: ["SAE"], swiftSettings: v5),
    .executableTarget(
      name: "PrepareData",
      dependencies: ["GPT", "Training", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/PrepareData", swiftSettings: v5),
    .target(
      name: "CommandSupport", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/CommandSupport", swiftSettings: v5),
    .executableTarget(
      name: "TrainGPT",
      dependencies: ["GPT", "Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/TrainGPT", swiftSettings: v5),
    .executableTarget(
      name: "Evaluate",
      dependencies: ["GPT", "SAE", "Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Evaluate", swiftSettings: v5),
    .executableTarget(
      name: "Generate",
      dependencies: ["GPT", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Generate", swiftSettings: v5),
    .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")], swiftSettings: v5),
    .testTarget(name: "AutogradTests", dependencies: ["Autograd"], resources: [.copy("Fixtures")], swiftSettings: v5),
    .testTarget(name: "GPTTests", dependencies: ["GPT"], swiftSettings: v5),
    .testTarget(name: "SAETests", dependencies: ["SAE"], swiftSettings: v5),
    .testTarget(name: "TrainingTests", dependencies: ["Training"], swiftSettings: v5),
  ]
)
