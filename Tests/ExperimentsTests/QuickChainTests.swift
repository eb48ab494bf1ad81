import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
import Training
@testable import Experiments

/// The SCALAR chain of `QUICK=1 ./run_scalar.sh` through its library calls, small enough for CI: a GPT
/// trained on a synthetic word language, TopK SAEs of one placement trained on it, integrated-gradients
/// attributions written and read back, gradient-selected edge-ablation sweeps over the paper's edge counts
/// (clamped to the pairs' sizes) written as result files, then the summary read back from them.
@Suite(.serialized) struct QuickChainTests {
  /// A temporary workspace: synthetic token shards, checkpoints, attribution and ablation files.
  final class Workspace {
    let root: URL
    var data: URL { root.appendingPathComponent("data") }
    var checkpoints: URL { root.appendingPathComponent("checkpoints") }
    var results: URL { root.appendingPathComponent("results") }

    init() throws {
      root = FileManager.default.temporaryDirectory.appendingPathComponent("quick-chain-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
      try TokenShards.write(Self.words(24_000, seed: 1), split: .train, vocabularySize: 128, shardTokens: 24_000, to: data)
      try TokenShards.write(Self.words(4_000, seed: 2), split: .val, vocabularySize: 128, shardTokens: 4_000, to: data)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// Text of a small word language as ascii ids: each word is followed by one of two successors
    /// (chosen at random), so that within a word every character is determined by the previous ones.
    static func words(_ count: Int, seed: UInt64) -> [Int32] {
      let vocabulary = ["the ", "cat ", "sat ", "on ", "a ", "mat. ", "dog ", "ran ", "to ", "me\n"]
      var g = RandomGenerator(seed: seed)
      var out: [Int32] = [], word = 0
      while out.count < count {
        out += vocabulary[word].unicodeScalars.map { Int32($0.value) }
        word = (word * 3 + 1 + g.nextInt(below: 2)) % vocabulary.count
      }
      return Array(out.prefix(count))
    }
  }

  /// The GPT architecture: the paper's toy model (the SAE trainer requires a preset architecture).
  static let gptPreset = "ascii_64x4"

  /// FF-layer TopK pairs (i_mlpin → i_mlpout) at layers 0 and 1: the cheapest placement to ablate.
  static let saeModel = SAEModelConfig(name: "quick-ff-layer", gptConfig: Self.gptPreset, nFeatures: [32, 32, 32, 32],
                                       saeVariant: .topK, topK: [4, 4, 4, 4], saeKeys: SAEModelConfig.mlpLayerKeys(2))

  @Test func quickChainKLFallsAsEdgesAreAdded() throws {
    let w = try Workspace()

    // 1. The GPT learns the word language.
    let gptConfig = GPTTrainingConfig(name: "gpt", gptConfig: Self.gptPreset, dataDir: w.data.path, logInterval: 50,
                                      evalInterval: 50, evalSteps: 2, batchSize: 4, learningRate: 5e-3, warmupSteps: 10,
                                      maxSteps: 100, decayLR: true, minLR: 1e-3)
    let gptTrainer = try GPTTrainer(config: gptConfig, checkpointsDirectory: w.checkpoints, seed: 3, echo: false)
    try gptTrainer.train()
    // Uniform ids give ln 128 ≈ 4.85 nats, the character frequencies alone 2.38, the previous character 1.02.
    #expect(gptTrainer.bestValLoss < 1.5, "the GPT did not learn the synthetic language (val loss \(gptTrainer.bestValLoss))")

    // 2. TopK SAEs on the frozen GPT.
    var saeConfig = SAETrainingConfig(name: "ff_layer_topk", saeConfig: Self.saeModel.name, dataDir: w.data.path,
                                      logInterval: 20, evalInterval: 40, evalSteps: 2, batchSize: 4, learningRate: 1e-2,
                                      warmupSteps: 10, maxSteps: 80, minLR: 1e-3)
    saeConfig.saeModel = Self.saeModel
    let saeTrainer = try ConcurrentSAETrainer(config: saeConfig, loadFrom: w.checkpoints.appendingPathComponent("gpt"),
                                              checkpointsDirectory: w.checkpoints, seed: 4, echo: false)
    try saeTrainer.train()
    let model = try SparsifiedGPT.load(from: w.checkpoints.appendingPathComponent("ff_layer_topk"))

    // 3. Integrated-gradients attributions, through the attribution file.
    var loader = try TokenDataLoader(directory: w.data, split: .val, batchSize: 4, sequenceLength: model.gpt.config.blockSize)
    let attributor = try IntegratedGradientsAttributor(model: model, steps: 4)
    let attributions = try attributor.run(loader: &loader, batches: 2)
    let attributionURL = w.root.appendingPathComponent("ff_layer_topk.safetensors")
    try AttributionFile.write(attributions, metadata: AttributionMetadata(modelName: "ff_layer_topk", method: .integratedGradients,
                                                                          batchSize: 4, numBatches: 2, steps: 4),
                              to: attributionURL)
    let stored = try AttributionFile.read(attributionURL).tensors

    // 4. Edge-ablation sweeps over the paper's counts, clamped to each pair's F_up·F_down, into result files.
    let prompts = try PromptRows.load(dataDirectory: w.data, count: 8, length: model.gpt.config.blockSize)
    let cleanLogits = try withNoGrad { try model.gpt(prompts).value }
    for layer in try CircuitPair.layers(of: model) {
      let pair = try CircuitPair(model: model, layer: layer)
      let ablation = try PairAblation(pair: pair, prompts: prompts, cleanLogits: cleanLogits)
      let order = try EdgeRanking.byAttribution(try AttributionFile.matrix(stored, for: pair, source: attributionURL.path), seed: 125)
      let counts = try EdgeCounts.resolve(EdgeCounts.paper, total: ablation.totalEdges).counts
      #expect(counts == EdgeCounts.paper.filter { $0 < 1024 } + [1024])
      try ablation.sweep(order: order, counts: counts) { point in
        let stem = AblationResultFile.stem(placement: pair.placementLabel, variant: "topk", selection: .gradient,
                                           layer: point.layer, edges: point.edges)
        let params = AblationMetadata.ExperimentParams(placement: pair.placementLabel, edgeSelectionStrategy: "gradient",
                                     numEdges: point.edges, upstreamLayerIdx: point.layer)
        try AblationResultFile.write(point, stem: stem, directory: w.results, layout: .compact,
                                     metadata: AblationMetadata(experimentParams: params))
      }
    }

    // 5. The summary from the result files: per layer, KL falls from N = 1 to every edge, and finite AUCs.
    let series = try AblationSeries.load(label: "TopK", directories: [w.results])
    let summary = try ScalarSummary(series: [series], baseline: "TopK", resamples: 200)
    let placement = try #require(summary.placements.first)
    #expect(summary.placements.count == 1 && placement.placement == .ffLayer)
    #expect(placement.layers.map(\.layer) == [0, 1])
    for l in placement.layers {
      let curve = try #require(l.curves["TopK"])
      let first = try #require(curve.points.first), last = try #require(curve.points.last)
      #expect(first.edges == 1 && last.edges == 1024)
      #expect(first.interval.mean > last.interval.mean,
              "layer \(l.layer): KL(N = 1) \(first.interval.mean) is not above KL(N = 1024) \(last.interval.mean)")
      #expect(curve.auc.isFinite && curve.auc > 0, "layer \(l.layer): AUC \(curve.auc)")
      #expect(curve.aucError.isFinite && curve.aucError >= 0, "layer \(l.layer): AUC error \(curve.aucError)")
      let svg = summary.plot(placement, l).render()
      #expect(svg.hasPrefix("<svg") && svg.contains("SAE pair across FF layer \(l.layer)"))
    }
    #expect(summary.table.contains("FF_LAYER"))
  }
}
