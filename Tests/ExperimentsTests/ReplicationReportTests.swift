import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
import Training
@testable import Experiments

/// The replication report over a small layout written the way the scripts write it: two transformer-block
/// runs with a milestone copy each, attribution files and ablation results for the milestone and the final
/// checkpoints.
@Suite(.serialized) struct ReplicationReportTests {
  static let gptConfig = GPTConfig(blockSize: 16, vocabSize: 128, nLayer: 2, nHead: 2, nEmbd: 16)

  final class Layout {
    let root: URL
    var data: URL { root.appendingPathComponent("data") }
    var checkpoints: URL { root.appendingPathComponent("checkpoints") }
    var attributions: URL { root.appendingPathComponent("attributions") }
    var results: URL { root.appendingPathComponent("results") }
    var locations: ReplicationReport.Locations {
      ReplicationReport.Locations(checkpoints: checkpoints, attributions: attributions, results: results, dataDirectory: data)
    }

    init() throws {
      root = FileManager.default.temporaryDirectory.appendingPathComponent("replication-\(UUID().uuidString)")
      var g = RandomGenerator(seed: 3)
      let tokens = (0..<4_000).map { _ in Int32(32 + g.nextInt(below: 90)) }
      try TokenShards.write(tokens, split: .train, vocabularySize: 128, shardTokens: 4_000, to: data)
      try TokenShards.write(Array(tokens.prefix(1_000)), split: .val, vocabularySize: 128, shardTokens: 1_000, to: data)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// Writes run `name` (TopK SAEs of `features` at 0…2_act from `seed`), its milestone copy at step 4 (other
    /// SAE weights), and for both stages its attribution file and gradient-selected sweeps of layers 0 and 1.
    func writeRun(_ name: String, features: [Int], seed: UInt64) throws {
      let gpt = try GPT(config: ReplicationReportTests.gptConfig, seed: 1)
      let config = SAEConfig(nFeatures: features, saeVariant: .topK, topK: [2, 2, 2], saeKeys: SAEModelConfig.actKeys(3))
      for (stage, offset) in [("final", UInt64(0)), ("step-000004", UInt64(100))] {
        let model = try SparsifiedGPT(gpt: gpt, config: config, seed: seed + offset)
        let runDir = checkpoints.appendingPathComponent(name)
        let dir = stage == "final" ? runDir : runDir.appendingPathComponent("milestones").appendingPathComponent(stage)
        try model.save(to: dir)
        try CheckpointSteps(steps: Dictionary(uniqueKeysWithValues: model.keys.map { ($0.description, stage == "final" ? 8 : 4) }))
          .write(to: dir)
        var loader = try TokenDataLoader(directory: data, split: .val, batchSize: 2, sequenceLength: 16)
        let matrices = try IntegratedGradientsAttributor(model: model, steps: 2).run(loader: &loader, batches: 1)
        let attributionURL = ReplicationReport.directory(attributions, stage: stage).appendingPathComponent("\(name).safetensors")
        try AttributionFile.write(matrices, metadata: AttributionMetadata(modelName: name, method: .integratedGradients,
                                                                          batchSize: 2, numBatches: 1, steps: 2), to: attributionURL)
        let prompts = try PromptRows.load(dataDirectory: data, count: 2, length: 16)
        let clean = try withNoGrad { try model.gpt(prompts).value }
        for layer in [0, 1] {
          let pair = try CircuitPair(model: model, layer: layer)
          let ablation = try PairAblation(pair: pair, prompts: prompts, cleanLogits: clean)
          let order = try EdgeRanking.byAttribution(try AttributionFile.matrix(matrices, for: pair, source: name), seed: 125)
          let counts = try EdgeCounts.resolve([1, 4, 16, 64], total: ablation.totalEdges).counts
          let out = ReplicationReport.directory(results, stage: stage).appendingPathComponent(name)
          try ablation.sweep(order: order, counts: counts) { point in
            let stem = AblationResultFile.stem(placement: pair.placementLabel, variant: "topk", selection: .gradient,
                                               layer: point.layer, edges: point.edges)
            let params: [String: Any] = ["placement": pair.placementLabel, "edge_selection_strategy": "gradient",
                                         "num_edges": point.edges, "upstream_layer_idx": point.layer]
            try AblationResultFile.write(point, stem: stem, directory: out, layout: .compact, metadata: ["experiment_params": params])
          }
        }
      }
    }
  }

  @Test func reportMatchesTheLibraryComputationsAtEveryStage() throws {
    let layout = try Layout()
    try layout.writeRun("tb_topk", features: [16, 16, 16], seed: 5)
    try layout.writeRun("tb_staircase", features: [8, 16, 24], seed: 6)
    let spec = ReplicationSpec(placements: [try ReplicationSpec.parsePlacement("transformer_block=TopK:tb_topk,Staircase:tb_staircase")])
    var messages: [String] = []
    let report = try ReplicationReport(spec: spec, locations: layout.locations, evalBatches: 2, evalBatchSize: 2, resamples: 50) {
      messages.append($0)
    }
    #expect(report.stages.map(\.stage) == ["step-000004", "final"])
    #expect(messages.contains("final tb_topk: evaluation"))
    for stage in report.stages {
      let p = try #require(stage.placements.first)
      #expect(p.placement == "TRANSFORMER_BLOCK" && p.baseline == "TopK" && p.methods == ["Staircase"])
      #expect(p.paper == ReplicationReport.Estimate(value: 0.6315, error: 0.0135))
      // AUCs and improvements equal ScalarSummary over the same result files.
      let base = ReplicationReport.directory(layout.results, stage: stage.stage)
      let series = try [("TopK", "tb_topk"), ("Staircase", "tb_staircase")].map {
        try AblationSeries.load(label: $0.0, directories: [base.appendingPathComponent($0.1)])
      }
      let summary = try #require(try ScalarSummary(series: series, baseline: "TopK", resamples: 50).placements.first)
      #expect(p.layers.map(\.layer) == [0, 1])
      for (l, expected) in zip(p.layers, summary.layers) {
        #expect(l.auc["TopK"]?.value == expected.curves["TopK"]?.auc)
        #expect(l.improvement["Staircase"]?.value == expected.improvement["Staircase"]?.value)
        #expect(l.improvementWithoutLastPoint["Staircase"]?.value == expected.improvementWithoutLastPoint["Staircase"]?.value)
      }
      #expect(p.meanImprovement["Staircase"]?.value == summary.meanImprovement["Staircase"]?.value)
      // Each run's metrics come from its checkpoint at this stage.
      for run in p.runs {
        let checkpoint = ReplicationReport.checkpoint(run.run, stage: stage.stage, in: layout.checkpoints)
        #expect(run.checkpoint == checkpoint.path)
        let model = try SparsifiedGPT.load(from: checkpoint)
        var loader = try TokenDataLoader(directory: layout.data, split: .val, batchSize: 2, sequenceLength: 16)
        let m = try SparsifiedEvaluation.evaluate(model, loader: &loader, batches: 2)
        #expect(run.compoundCEIncrease == Double(m.compoundCEIncrease))
        #expect(run.saes.map(\.key) == ["0_act", "1_act", "2_act"])
        #expect(run.saes.allSatisfy { $0.checkpointStep == (stage.stage == "final" ? 8 : 4) && $0.deadFraction >= 0 && $0.deadFraction <= 1 })
        #expect(run.saes[1].ceIncrease == m.ceIncrease[SAEKey("1_act")!].map(Double.init))
        let file = ReplicationReport.directory(layout.attributions, stage: stage.stage).appendingPathComponent("\(run.run).safetensors")
        let matrix = try #require(try AttributionFile.read(file).tensors["0-1"])
        #expect(run.attributions[0] == AttributionStatistics(matrix: matrix) && run.attributions.keys.sorted() == [0, 1])
      }
    }
    // The headline compares the final mean with the paper's; the Markdown carries it and every stage.
    let headline = try #require(report.headlines.first)
    #expect(report.headlines.count == 1 && headline.method == "Staircase" && headline.placement == "TRANSFORMER_BLOCK")
    #expect(headline.verdict == HeadlineVerdict(ours: headline.ours, paper: headline.paper))
    let markdown = report.markdown(preamble: "Machine: test.")
    #expect(markdown.contains("| Transformer blocks | Staircase | 63.15% ± 1.35% | "))
    #expect(markdown.contains("| step 4 | ") && markdown.contains("| final | "))
    #expect(markdown.contains("### Final AUCs per layer"))
    let plots = report.improvementPlots(stepOfFinal: ["TRANSFORMER_BLOCK": 8])
    #expect(plots.count == 1 && plots[0].plot.series.map(\.label) == ["Staircase layer 0", "Staircase layer 1", "Staircase mean"])
    #expect(plots[0].plot.series[2].x == [4, 8])
  }

  @Test func verdictsByHand() {
    typealias E = ReplicationReport.Estimate
    let paper = E(value: 0.6315, error: 0.0135)
    #expect(HeadlineVerdict(ours: E(value: 0.60, error: 0.01), paper: paper) == .reproduces)   // |Δ| 0.0315 ≤ 2·0.0168
    #expect(HeadlineVerdict(ours: E(value: 0.30, error: 0.01), paper: paper) == .sameSignDifferentSize)
    #expect(HeadlineVerdict(ours: E(value: -0.55, error: 0.10), paper: paper) == .reversed)
  }

  @Test func badSpecsAreOneLineErrors() {
    for text in ["transformer_block", "nowhere=TopK:a,B:b", "ff_block=TopK:a", "ff_block=TopK:a,TopK:b", "ff_layer=TopK:a,JSAE:"] {
      #expect(throws: ExperimentError.self, "\(text)") { try ReplicationSpec.parsePlacement(text) }
    }
    let p = try? ReplicationSpec.parsePlacement("ff_layer=TopK:jsae_0,JSAE:jsae_chosen@ff_layer_jsae")
    #expect(p?.methods.first?.resultSeries == "ff_layer_jsae" && p?.baseline.resultSeries == "jsae_0" && p?.placement == .ffLayer)
  }
}
