import Autograd
import Experiments
@testable import ExplorerCore
import FeatureIndexStore
import Foundation
import GPT
import SAE
import Tensor

/// A small sparsified checkpoint written in a temporary directory, with its feature index, an attribution file
/// and a directory of ablation results, all generated here (no shared data needed).
final class Fixture: @unchecked Sendable {
  let directory: URL
  let checkpoint: URL
  let attributions: URL
  let results: URL
  let explorer: Explorer
  /// The dead features of SAE 0_act.
  let deadFeatures: [Int]
  /// Tokens indexed.
  let tokenCount: Int

  static let text = """
    Blaise Pascal:
    Before the engine turns, hear the plan.
    All: Turn, turn.
    Blaise Pascal: You are all agreed to count rather than to guess?
    """

  private init() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("explorer-fixture-\(UUID().uuidString)")
    checkpoint = directory.appendingPathComponent("ckpt")
    attributions = directory.appendingPathComponent("attributions.safetensors")
    results = directory.appendingPathComponent("results")
    try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
    let gptConfig = GPTConfig(blockSize: 32, vocabSize: 128, nLayer: 2, nHead: 2, nEmbd: 16)
    let saeConfig = SAEConfig(nFeatures: [24, 24, 24], saeVariant: .topK, topK: [3, 3, 3],
                              saeKeys: (0..<3).map { SAEKey(layer: $0, hookPoint: .act) })
    let model = try SparsifiedGPT(gpt: try GPT(config: gptConfig, seed: 4), config: saeConfig, seed: 6)
    try model.save(to: checkpoint)
    // The index over the text, repeated.
    let stream = ASCIITokenizer().encode(String(repeating: Self.text, count: 3))
    tokenCount = stream.count
    let builder = FeatureIndexBuilder(model: model)
    try builder.add(stream: stream, rowLength: 32, batchRows: 4)
    var summaries: [SAEKey: [FeatureSummary]] = [:]
    for key in model.keys { summaries[key] = try builder.summaries(for: key) }
    deadFeatures = summaries[model.keys[0]]!.filter(\.isDead).map(\.feature)
    let info = FeatureIndexInfo(checkpoint: checkpoint.path, dataDirectory: "(in-test text)", split: "val",
                                tokens: stream.count, rowLength: 32, settings: builder.settings, created: "2026-01-01T00:00:00Z",
                                seconds: 0.1)
    try FeatureIndexDatabase.write(info: info, keys: model.keys, summaries: summaries,
                                   to: checkpoint.appendingPathComponent(FeatureIndexDatabase.defaultFileName))
    // Attributions: seeded matrices with both signs.
    var g = RandomGenerator(seed: 21)
    var matrices: [String: Tensor] = [:]
    for layer in 0..<2 {
      matrices["\(layer)-\(layer + 1)"] = Tensor(shape: [24, 24], scalars: (0..<(24 * 24)).map { _ in Float(g.nextNormal()) })
    }
    try AttributionFile.write(matrices, metadata: AttributionMetadata(modelName: "ckpt", method: .integratedGradients, batchSize: 1,
                                                                       numBatches: 1, steps: 2), to: attributions)
    // Ablation results of two series (the same pruned forward as `ablate`), on two prompts of 16 tokens.
    let prompts = IntTensor(shape: [2, 16], scalars: Array(stream[0..<32]))
    let clean = try withNoGrad { try model.gpt(prompts).value }
    for (label, seed) in [("topk", UInt64(125)), ("other", UInt64(7))] {
      let dir = results.appendingPathComponent(label)
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      for layer in 0..<2 {
        let pair = try CircuitPair(model: model, layer: layer)
        let ablation = try PairAblation(pair: pair, prompts: prompts, cleanLogits: clean)
        let order = try EdgeRanking.byAttribution(matrices[pair.attributionKey]!, seed: seed)
        try ablation.sweep(order: order, counts: [1, 8, 64, 576]) { point in
          let params = AblationMetadata.ExperimentParams(
            task: "magnitudes", ablator: "zero", placement: pair.placementLabel, edgeSelectionStrategy: "gradient",
            numEdges: point.edges, totalEdges: 576, upstreamLayerIdx: layer, upstreamKey: pair.upstreamKey.description,
            downstreamKey: pair.downstreamKey.description, attributionKey: pair.attributionKey, numPrompts: 2, sequenceLength: 16)
          let stem = AblationResultFile.stem(placement: pair.placementLabel, variant: label, selection: .gradient, layer: layer,
                                             edges: point.edges)
          try AblationResultFile.write(point, stem: stem, directory: dir, layout: .compact,
                                       metadata: AblationMetadata(experimentParams: params))
        }
      }
    }
    explorer = try Explorer(checkpoint: checkpoint, attributions: attributions, results: results)
  }

  nonisolated(unsafe) private static var cached: Fixture?
  private static let lock = NSLock()

  /// One fixture shared by the tests of a run.
  static func shared() throws -> Fixture {
    lock.lock()
    defer { lock.unlock() }
    if let cached { return cached }
    let f = try Fixture()
    cached = f
    return f
  }
}
