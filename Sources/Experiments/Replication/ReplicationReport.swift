import Foundation
import SAE
import Tensor
import Training

/// The numbers of a SCALAR replication at every analysed stage (each milestone step and the final
/// checkpoints): per placement and layer the AUCs and relative improvements (with and without the last edge
/// count), per run the SAEs' L0, CE-loss increase and dead-feature fraction with the step of each reloaded
/// checkpoint, and per run and layer how concentrated the attributions are.
public struct ReplicationReport: Codable, Sendable {
  /// Where the stages' files are: `<dir>` for the final checkpoints' analysis, `<dir>/step-NNNNNN` for a
  /// milestone's, in each of the attribution and result directories; checkpoints under
  /// `<checkpoints>/<run>` (final) and `<checkpoints>/<run>/milestones/step-NNNNNN`.
  public struct Locations: Sendable {
    public var checkpoints: URL
    public var attributions: URL
    public var results: URL
    public var dataDirectory: URL
    public init(checkpoints: URL, attributions: URL, results: URL, dataDirectory: URL) {
      self.checkpoints = checkpoints
      self.attributions = attributions
      self.results = results
      self.dataDirectory = dataDirectory
    }
  }

  /// One SAE's evaluation.
  public struct SAEResult: Codable, Sendable, Equatable {
    public var key: String
    public var l0: Double
    public var deadFraction: Double
    /// CE(patched) − CE(clean), for SAEs (or pairs, keyed by their input side) that report one.
    public var ceIncrease: Double?
    /// The training step of this SAE's reloaded checkpoint (nil for checkpoints written without the record).
    public var checkpointStep: Int?
  }

  /// One run's checkpoint at one stage.
  public struct RunResult: Codable, Sendable {
    public var label: String
    public var run: String
    public var checkpoint: String
    public var ceLoss: Double
    public var compoundCEIncrease: Double
    public var saes: [SAEResult]
    /// Attribution concentration per upstream layer (absent when the attribution file is missing).
    public var attributions: [Int: AttributionStatistics]
  }

  /// One layer's SCALAR numbers at one stage.
  public struct LayerResult: Codable, Sendable {
    public var layer: Int
    /// AUC ± error per label, and without the last edge count.
    public var auc: [String: Estimate]
    public var aucWithoutLastPoint: [String: Estimate]
    /// Relative improvement over the baseline per method label, with and without the last edge count.
    public var improvement: [String: Estimate]
    public var improvementWithoutLastPoint: [String: Estimate]
  }

  /// A value and its error.
  public struct Estimate: Codable, Sendable, Equatable {
    public var value: Double
    public var error: Double
    public init(value: Double, error: Double) {
      self.value = value
      self.error = error
    }
  }

  /// One placement at one stage.
  public struct PlacementResult: Codable, Sendable {
    public var placement: String
    public var baseline: String
    public var methods: [String]
    public var layers: [LayerResult]
    public var meanImprovement: [String: Estimate]
    public var meanImprovementWithoutLastPoint: [String: Estimate]
    public var runs: [RunResult]
    public var paper: Estimate?
  }

  /// One analysed stage: a milestone step, or `final`.
  public struct Stage: Codable, Sendable {
    public var stage: String
    public var placements: [PlacementResult]
  }

  public var stages: [Stage]

  /// Stage names found for `spec`: `step-NNNNNN` directories of the result directory in increasing step,
  /// then `final` when the result directory holds results of the spec's series.
  public static func stages(in results: URL) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: results.path)) ?? []
    let steps = names.filter { $0.hasPrefix("step-") && Int($0.dropFirst(5)) != nil }.sorted()
    return steps + ["final"]
  }

  /// `base` for the final stage, `base/step-NNNNNN` for a milestone.
  public static func directory(_ base: URL, stage: String) -> URL {
    stage == "final" ? base : base.appendingPathComponent(stage)
  }

  /// The checkpoint of `run` at `stage`: its milestone copy, or its final checkpoint for `final` and for
  /// stages beyond the run's length (a 7,500-step run compared at 20,000 steps).
  public static func checkpoint(_ run: String, stage: String, in checkpoints: URL) -> URL {
    let dir = checkpoints.appendingPathComponent(run)
    if stage != "final" {
      let kept = dir.appendingPathComponent("milestones").appendingPathComponent(stage)
      if FileManager.default.fileExists(atPath: kept.path) { return kept }
    }
    return dir
  }

  /// Builds the report: for every stage and placement of `spec` whose ablation results exist, the curves
  /// (bootstrap with `resamples`, seed 0, as `plot` computes them), the runs' metrics over `evalBatches`
  /// val batches of `evalBatchSize` sequences (loader reset), their feature activity over the same tokens,
  /// and the attribution statistics. `progress` is told what is being done.
  public init(spec: ReplicationSpec, locations: Locations, evalBatches: Int, evalBatchSize: Int, resamples: Int = 1000,
              progress: (String) -> Void = { _ in }) throws {
    guard evalBatches > 0, evalBatchSize > 0 else {
      throw ExperimentError("the evaluation needs a positive number of batches and batch size, got \(evalBatches) × \(evalBatchSize)")
    }
    var stages: [Stage] = []
    var evaluated: [String: RunResult] = [:]  // by checkpoint path: a final checkpoint serves several stages
    for stage in Self.stages(in: locations.results) {
      var placements: [PlacementResult] = []
      for p in spec.placements {
        let resultBase = Self.directory(locations.results, stage: stage)
        var series: [AblationSeries] = []
        for s in p.series {
          let dir = resultBase.appendingPathComponent(s.resultSeries)
          guard FileManager.default.fileExists(atPath: dir.path) else { continue }
          series.append(try AblationSeries.load(label: s.label, directories: [dir]))
        }
        guard series.contains(where: { $0.label == p.baseline.label }), series.count >= 2 else { continue }
        progress("\(stage) \(p.placement.rawValue): curves")
        let summary = try ScalarSummary(series: series, baseline: p.baseline.label, resamples: resamples)
        guard let placementSummary = summary.placements.first(where: { $0.placement == p.placement }) else {
          throw ExperimentError("the ablation results of \(stage) hold no \(p.placement.rawValue) sweeps for \(series.map(\.label))")
        }
        var runs: [RunResult] = []
        for s in p.series {
          let checkpoint = Self.checkpoint(s.run, stage: stage, in: locations.checkpoints)
          var result: RunResult
          if let done = evaluated[checkpoint.path] {
            result = done
          } else {
            progress("\(stage) \(s.run): evaluation")
            result = try Self.evaluate(label: s.label, run: s.run, checkpoint: checkpoint, data: locations.dataDirectory,
                                       batches: evalBatches, batchSize: evalBatchSize)
            evaluated[checkpoint.path] = result
          }
          result.label = s.label
          let attributionURL = Self.directory(locations.attributions, stage: stage).appendingPathComponent("\(s.run).safetensors")
          result.attributions = try Self.attributionStatistics(attributionURL, placement: p.placement)
          runs.append(result)
        }
        placements.append(PlacementResult(
          placement: p.placement.rawValue, baseline: p.baseline.label, methods: p.methods.map(\.label),
          layers: placementSummary.layers.map(Self.layerResult),
          meanImprovement: placementSummary.meanImprovement.mapValues(Self.estimate),
          meanImprovementWithoutLastPoint: placementSummary.meanImprovementWithoutLastPoint.mapValues(Self.estimate),
          runs: runs, paper: p.paper.map { Estimate(value: $0.value, error: $0.error) }))
      }
      if !placements.isEmpty { stages.append(Stage(stage: stage, placements: placements)) }
    }
    guard !stages.isEmpty else {
      throw ExperimentError("no ablation results of the given series under \(locations.results.path)")
    }
    self.stages = stages
  }

  static func estimate(_ r: RelativeImprovement) -> Estimate { Estimate(value: r.value, error: r.error) }

  static func layerResult(_ l: ScalarSummary.LayerResult) -> LayerResult {
    LayerResult(layer: l.layer,
                auc: l.curves.mapValues { Estimate(value: $0.auc, error: $0.aucError) },
                aucWithoutLastPoint: l.curves.mapValues { let c = $0.withoutLastPoint; return Estimate(value: c.auc, error: c.aucError) },
                improvement: l.improvement.mapValues(estimate),
                improvementWithoutLastPoint: l.improvementWithoutLastPoint.mapValues(estimate))
  }

  /// Metrics, feature activity and checkpoint steps of one checkpoint.
  static func evaluate(label: String, run: String, checkpoint: URL, data: URL, batches: Int, batchSize: Int) throws -> RunResult {
    let model = try SparsifiedGPT.load(from: checkpoint)
    var loader = try TokenDataLoader(directory: data, split: .val, batchSize: batchSize, sequenceLength: model.gpt.config.blockSize)
    let m = try SparsifiedEvaluation.evaluate(model, loader: &loader, batches: batches)
    var activity = FeatureActivity()
    loader.reset()
    for _ in 0..<batches { try activity.add(model, tokens: try loader.nextBatch().x) }
    let steps = try CheckpointSteps.read(from: checkpoint)?.steps ?? [:]
    let saes = model.keys.map { key in
      SAEResult(key: key.description, l0: Double(m.l0[key] ?? .nan), deadFraction: activity.deadFraction(key) ?? .nan,
                ceIncrease: m.ceIncrease[key].map(Double.init), checkpointStep: steps[key.description])
    }
    return RunResult(label: label, run: run, checkpoint: checkpoint.path, ceLoss: Double(m.ceLoss),
                     compoundCEIncrease: Double(m.compoundCEIncrease), saes: saes, attributions: [:])
  }

  /// Statistics of every pair matrix of `placement` in an attribution file, by upstream layer; empty when
  /// the file does not exist.
  static func attributionStatistics(_ url: URL, placement: SAEPlacement) throws -> [Int: AttributionStatistics] {
    guard FileManager.default.fileExists(atPath: url.path) else { return [:] }
    let (tensors, _) = try AttributionFile.read(url)
    var out: [Int: AttributionStatistics] = [:]
    for (name, matrix) in tensors {
      // The layer is the first number in the key ("2-3", "MLP_BLOCK_2", "MLP_2"); keys of other placements
      // do not round-trip.
      let digits = name.drop { !$0.isNumber }.prefix { $0.isNumber }
      guard let layer = Int(digits), placement.attributionKey(layer: layer) == name else { continue }
      guard matrix.rank == 2 else { throw ExperimentError("\(url.path): attribution \(name) is not a matrix, shape \(matrix.shape)") }
      out[layer] = AttributionStatistics(matrix: matrix)
    }
    return out
  }
}
