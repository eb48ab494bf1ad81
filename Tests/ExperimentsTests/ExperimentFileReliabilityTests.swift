import Foundation
import SAE
import Testing
import TestSupport
@testable import Experiments
@testable import Tensor

/// Attribution and ablation result files on a full disk (an injected ENOSPC) and with non-finite values; the
/// completeness check `ablate --resume` relies on; the fuzz harnesses' regressions and seeds.
@Suite struct ExperimentFileReliabilityTests {
  static func point(layer: Int = 1, edges: Int = 7, poison: Bool = false) -> AblationPoint {
    var g = RandomGenerator(seed: 9)
    var mags = Tensor(zeros: [2, 3, 6])
    mags.unsafeMutablePointer()[4] = 1.5
    var logits = Tensor.normal([2, 3, 5], generator: &g)
    if poison { logits.unsafeMutablePointer()[7] = .nan }
    return AblationPoint(layer: layer, edges: edges, magnitudes: mags, logits: logits,
                         klFullModel: Tensor.uniform([2, 3], generator: &g), klCircuit: Tensor.uniform([2, 3], generator: &g),
                         usedUnprunedMagnitudes: false, seconds: 0.25)
  }

  static let parameters = AblationMetadata.ExperimentParams(placement: "transblock", edgeSelectionStrategy: "gradient", numEdges: 7,
                                                            upstreamLayerIdx: 1, numPrompts: 2, checkpoint: "/x/y")

  static func names(_ dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
  }

  @Test func aFullDiskKeepsThePreviousAttributionFile() throws {
    let dir = try temporaryDirectory("attr-full")
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("a.safetensors")
    let meta = AttributionMetadata(modelName: "m", method: .integratedGradients, batchSize: 2, numBatches: 3, steps: 4)
    try AttributionFile.write(["0-1": Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])], metadata: meta, to: url)
    let before = try Data(contentsOf: url)
    AtomicFile.injectedFailures.add(ENOSPC, under: dir)
    defer { AtomicFile.injectedFailures.remove(dir) }
    let error = try #require(throws: FileFormatError.self) {
      try AttributionFile.write(["0-1": Tensor(zeros: [200, 300])], metadata: meta, to: url)
    }
    #expect(error.description == "cannot write \(url.path): writing failed (No space left on device); the previous file is intact")
    #expect(try Data(contentsOf: url) == before)
    #expect(Self.names(dir) == ["a.safetensors"])
  }

  @Test func attributionsWithNonFiniteValuesAreNeverWritten() throws {
    let dir = try temporaryDirectory("attr-nan")
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("a.safetensors")
    let meta = AttributionMetadata(modelName: "m", method: .manualAblation, batchSize: 2, numBatches: 3, epsilon: 0)
    let error = try #require(throws: ExperimentError.self) {
      try AttributionFile.write(["0-1": Tensor(shape: [1, 2], scalars: [1, 2]), "1-2": Tensor(shape: [1, 2], scalars: [.infinity, 0])],
                                metadata: meta, to: url)
    }
    #expect(error.description == "refusing to write attributions with non-finite values to \(url.path): pair '1-2' holds inf at index 0; nothing was written")
    #expect(Self.names(dir).isEmpty)
    // Reading: a file with a non-matrix or integer tensor is refused on one line.
    let bad = SafeTensors.encode(SafeTensorsFile(tensors: ["0-1": Tensor([1, 2, 3])]))
    #expect(throws: ExperimentError.self) { _ = try AttributionFile.decode(bad, source: "bad.safetensors") }
    let ints = SafeTensors.encode(SafeTensorsFile(intTensors: ["0-1": IntTensor(shape: [1, 1], scalars: [1])]))
    #expect(throws: ExperimentError.self) { _ = try AttributionFile.decode(ints, source: "ints.safetensors") }
  }

  @Test func aFullDiskKeepsThePreviousAblationResult() throws {
    let dir = try temporaryDirectory("ablate-full")
    defer { try? FileManager.default.removeItem(at: dir) }
    let metadata = AblationMetadata(experimentParams: Self.parameters)
    let url = try AblationResultFile.write(Self.point(), stem: "p", directory: dir, layout: .compact, metadata: metadata)
    let sidecar = AblationResultFile.metadataURL(for: url)
    let before = try [Data(contentsOf: url), Data(contentsOf: sidecar)]
    AtomicFile.injectedFailures.add(ENOSPC, under: dir)
    defer { AtomicFile.injectedFailures.remove(dir) }
    var other = Self.point()
    other.logits = Tensor(zeros: [2, 3, 5])
    let error = try #require(throws: FileFormatError.self) {
      try AblationResultFile.write(other, stem: "p", directory: dir, layout: .full, metadata: metadata)
    }
    #expect(error.description == "cannot write \(url.path): writing failed (No space left on device); the previous file is intact")
    #expect(try [Data(contentsOf: url), Data(contentsOf: sidecar)] == before)
    #expect(Self.names(dir) == ["p.safetensors", "p.safetensors.metadata.json"])
    // A poisoned point is refused before anything is written, naming its layer and edge count.
    AtomicFile.injectedFailures.remove(dir)
    let nan = try #require(throws: ExperimentError.self) {
      try AblationResultFile.write(Self.point(layer: 3, edges: 12, poison: true), stem: "q", directory: dir, layout: .full, metadata: metadata)
    }
    #expect(nan.description == "refusing to write the ablation result of layer 3 with 12 edges to \(dir.path)/q.safetensors: 'logits' holds NaN at index 7; nothing was written")
    #expect(Self.names(dir) == ["p.safetensors", "p.safetensors.metadata.json"])
  }

  @Test func onlyCompleteMatchingResultsCountAsFinished() throws {
    let dir = try temporaryDirectory("ablate-finished")
    defer { try? FileManager.default.removeItem(at: dir) }
    let metadata = AblationMetadata(experimentParams: Self.parameters, timestamp: "now")
    let point = Self.point()
    let url = try AblationResultFile.write(point, stem: "p", directory: dir, layout: .compact, metadata: metadata)
    let sidecarURL = AblationResultFile.metadataURL(for: url)
    let found = try #require(AblationResultFile.finished(stem: "p", directory: dir, parameters: Self.parameters, layout: .compact))
    #expect(found.klFullModelMean.map(Float.init) == point.klFullModelMean && found.klCircuitMean.map(Float.init) == point.klCircuitMean)
    #expect(found.layer == 1 && found.edges == 7 && found.placement == .transformerBlock && found.selection == "gradient")
    // Other settings or layout: not finished.
    var changed = Self.parameters
    changed.numPrompts = 3
    #expect(AblationResultFile.finished(stem: "p", directory: dir, parameters: changed, layout: .compact) == nil)
    #expect(AblationResultFile.finished(stem: "p", directory: dir, parameters: Self.parameters, layout: .full) == nil)
    // A result file that differs from the one its sidecar describes (truncated, rewritten) is not finished.
    let bytes = try Data(contentsOf: url)
    try bytes.dropLast(4).write(to: url)
    #expect(AblationResultFile.finished(stem: "p", directory: dir, parameters: Self.parameters, layout: .compact) == nil)
    var flipped = bytes
    flipped[flipped.count - 1] ^= 1
    try flipped.write(to: url)
    #expect(AblationResultFile.finished(stem: "p", directory: dir, parameters: Self.parameters, layout: .compact) == nil)
    try bytes.write(to: url)
    #expect(AblationResultFile.finished(stem: "p", directory: dir, parameters: Self.parameters, layout: .compact) != nil)
    // A result file without its sidecar (killed between the two writes) is not finished; nor is a sidecar
    // without digest (an older file) or without its result file.
    try FileManager.default.removeItem(at: sidecarURL)
    #expect(AblationResultFile.finished(stem: "p", directory: dir, parameters: Self.parameters, layout: .compact) == nil)
    let oldParams: [String: Any] = ["placement": "transblock", "upstream_layer_idx": 1, "num_edges": 7,
                                    "edge_selection_strategy": "gradient", "num_prompts": 2, "checkpoint": "/x/y"]
    let old = try JSONSerialization.data(withJSONObject: ["experiment_params": oldParams, "tensor_layout": "compact",
                                                           "results": ["kl_full_model_mean": 0.1, "kl_divergence_mean": 0.2]])
    try old.write(to: sidecarURL)
    #expect(AblationResultFile.finished(stem: "p", directory: dir, parameters: Self.parameters, layout: .compact) == nil)
    #expect(AblationResultFile.finished(stem: "absent", directory: dir, parameters: Self.parameters, layout: .compact) == nil)
  }

  @Test func sidecarsAreReadStrictlyOnOneLine() throws {
    let cases: [(String, String)] = [
      ("[1, 2]", "is not a JSON object"),
      ("{\"experiment_params\": {\"placement\": \"transblock\", \"upstream_layer_idx\": 1.5, \"num_edges\": 3}}", "lacks experiment_params"),
      ("{\"experiment_params\": {\"placement\": \"nowhere\", \"upstream_layer_idx\": 1, \"num_edges\": 3}}", "lacks experiment_params"),
      ("{\"experiment_params\": {\"placement\": \"fflayer\", \"upstream_layer_idx\": 1e300, \"num_edges\": 3}}", "lacks experiment_params"),
      ("{", "is not valid JSON"),
    ]
    for (text, expected) in cases {
      let error = try #require(throws: ExperimentError.self) { _ = try AblationResultFile.Sidecar.decode(Data(text.utf8), source: "s.json") }
      #expect(error.description.hasPrefix("s.json") && error.description.contains(expected) && !error.description.contains("\n"), "\(text): \(error)")
    }
    #expect(throws: ExperimentError.self) {
      _ = try AblationResultFile.klFullModel(SafeTensors.encode(SafeTensorsFile(tensors: ["logits": Tensor([1])])), source: "r")
    }
  }

  // MARK: fuzzing seeds and regressions

  /// The harnesses' entry points on every seed and regression input: seeds are read, regression inputs read or
  /// refused with a one-line error; nothing traps.
  @Test func fuzzSeedsAndRegressionsAreReadOrRefusedOnOneLine() throws {
    try FuzzInputs.replay("AttributionFile", minimum: 2) { name, data in
      let file = try AttributionFile.decode(data, source: name)
      for (key, t) in file.tensors { _ = try AttributionFile.matrix(file.tensors, key: key, shape: t.shape, source: name) }
    }
    try FuzzInputs.replay("AblationResult", minimum: 2) { name, data in
      guard let kind = data.first else { return }
      if kind & 1 == 0 {
        _ = try AblationResultFile.Sidecar.decode(Data(data.dropFirst()), source: name)
      } else {
        _ = try AblationResultFile.klFullModel(Data(data.dropFirst()), source: name)
      }
    }
  }
}
