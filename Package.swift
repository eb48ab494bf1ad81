// swift-tools-version:6.1
import PackageDescription

// Module chain (strictly upward): COpenBLAS (and CMemoryHints, header-only cache hints) → Tensor → Autograd → GPT → SAE → Training → Experiments,
// executables on top under Sources/Tools/<Name>. With the trait `MPI` (`swift build --traits MPI`), CommandSupport
// also gets the MPI communicator (MessagePassing over the system library CMPI, libopenmpi-dev); nothing
// below the tools knows about processes beyond Training's `Communicator` protocol.
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
  name: "GPTCircuits",
  products: [
    .executable(name: "bench", targets: ["Bench"]),
    .executable(name: "train-gpt", targets: ["TrainGPT"]),
    .executable(name: "train-sae", targets: ["TrainSAE"]),
    .executable(name: "evaluate", targets: ["Evaluate"]),
    .executable(name: "generate", targets: ["Generate"]),
    .executable(name: "plot", targets: ["Plot"]),
    .library(name: "Tensor", targets: ["Tensor"]),
    .library(name: "Autograd", targets: ["Autograd"]),
    .library(name: "GPT", targets: ["GPT"]),
    .library(name: "SAE", targets: ["SAE"]),
    .library(name: "Training", targets: ["Training"]),
    .library(name: "Experiments", targets: ["Experiments"]),
    .executable(name: "attribute", targets: ["Attribute"]),
    .executable(name: "ablate", targets: ["Ablate"]),
    .executable(name: "prepare-data", targets: ["PrepareData"]),
    .executable(name: "scalar-report", targets: ["ScalarReport"]),
  ],
  traits: [
    .trait(name: "MPI", description: "Data-parallel jobs under mpirun through Open MPI (libopenmpi-dev)."),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    .executableTarget(
      name: "Bench", dependencies: ["GPT", "Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Bench", exclude: ["step_times.sh", "compare_pytorch.sh", "pytorch_step.py"], swiftSettings: v5),
    .systemLibrary(
      name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    // Prefetch and non-temporal stores for the Tensor module's kernels (static inline C, nothing to link).
    .systemLibrary(name: "CMemoryHints", path: "Sources/CMemoryHints"),
    .target(name: "Tensor", dependencies: ["COpenBLAS", "CMemoryHints"], swiftSettings: v5),
    .target(name: "Autograd", dependencies: ["Tensor"], swiftSettings: v5),
    .target(name: "GPT", dependencies: ["Autograd"], swiftSettings: v5),
    .target(name: "SAE", dependencies: ["GPT"], swiftSettings: v5),
    .target(name: "Training", dependencies: ["SAE"], swiftSettings: v5),
    .target(name: "Experiments", dependencies: ["Training"], swiftSettings: v5),
    .executableTarget(
      name: "PrepareData",
      dependencies: ["GPT", "Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/PrepareData", swiftSettings: v5),
    .target(
      name: "CommandSupport",
      dependencies: ["GPT", "Training", .target(name: "MessagePassing", condition: .when(traits: ["MPI"])),
                     .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/CommandSupport", swiftSettings: v5),
    // Built into the tools only with the trait MPI (its sources compile to nothing without it).
    .systemLibrary(
      name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi",
      providers: [.apt(["libopenmpi-dev"])]),
    .target(
      name: "MessagePassing", dependencies: ["Tensor", "Training", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
      swiftSettings: v5),
    .executableTarget(
      name: "TrainGPT",
      dependencies: ["GPT", "Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/TrainGPT", swiftSettings: v5),
    .executableTarget(
      name: "TrainSAE",
      dependencies: ["GPT", "SAE", "Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/TrainSAE", swiftSettings: v5),
    .executableTarget(
      name: "Evaluate",
      dependencies: ["GPT", "SAE", "Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Evaluate", swiftSettings: v5),
    .executableTarget(
      name: "Generate",
      dependencies: ["GPT", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Generate", swiftSettings: v5),
    .executableTarget(
      name: "Attribute",
      dependencies: ["Experiments", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Attribute", swiftSettings: v5),
    .executableTarget(
      name: "Ablate",
      dependencies: ["Experiments", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Ablate", swiftSettings: v5),
    .executableTarget(
      name: "Plot",
      dependencies: ["Experiments", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/Plot", swiftSettings: v5),
    .executableTarget(
      name: "ScalarReport",
      dependencies: ["Experiments", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/ScalarReport", swiftSettings: v5),
    .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")], swiftSettings: v5),
    .testTarget(name: "AutogradTests", dependencies: ["Autograd"], resources: [.copy("Fixtures")], swiftSettings: v5),
    .testTarget(name: "GPTTests", dependencies: ["GPT", "TestSupport"], swiftSettings: v5),
    .testTarget(name: "SAETests", dependencies: ["SAE", "TestSupport"], resources: [.copy("Fixtures")], swiftSettings: v5),
    .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"], swiftSettings: v5),
    .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "TestSupport"], swiftSettings: v5),
    // Helpers for the test targets above Autograd: locating the shared reference data, reading PyTorch summaries.
    .target(name: "TestSupport", dependencies: ["Autograd"], path: "Tests/TestSupport", swiftSettings: v5),
  ]
)
