import Foundation
import TestSupport
import Testing
@testable import Experiments

/// The replication's shipped checkpoints (`results/scalar/checkpoints/<run>/`) reproduce the evaluation metrics
/// its summary (`results/scalar/summary.json`) reports for the final stage: CE loss, compound CE increase, and
/// per SAE the L0, CE increase and dead-feature fraction, over the same val batches of the classic corpus.
@Suite struct ShippedCheckpointsTests {
  static let results = SharedData.repositoryRoot.appendingPathComponent("results/scalar")
  /// Optimised builds only: each checkpoint is evaluated over 20 val batches of 128 sequences (as the summary
  /// was), minutes per checkpoint unoptimised; the release run of the test suite covers it.
  static let optimized = !_isDebugAssertConfiguration()

  /// The final stage's runs of every placement in the summary, by run name (a run serves one placement).
  static func finalRuns() throws -> [(run: String, result: ReplicationReport.RunResult)] {
    let data = try Data(contentsOf: results.appendingPathComponent("summary.json"))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let report = try #require(object["report"])
    let decoded = try JSONDecoder().decode(ReplicationReport.self, from: try JSONSerialization.data(withJSONObject: report))
    let final = try #require(decoded.stages.first { $0.stage == "final" }, "the summary has no final stage")
    var out: [(String, ReplicationReport.RunResult)] = []
    for placement in final.placements {
      for run in placement.runs where !out.contains(where: { $0.0 == run.run }) { out.append((run.run, run)) }
    }
    return out
  }

  /// The evaluation budget the summary's metrics were computed with.
  static func evaluationBudget() throws -> (batches: Int, batchSize: Int) {
    let data = try Data(contentsOf: results.appendingPathComponent("summary.json"))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let evaluation = try #require(object["evaluation"] as? [String: Any], "summary.json records no evaluation budget")
    return (try #require(evaluation["batches"] as? Int), try #require(evaluation["batch_size"] as? Int))
  }

  @Test func everyFinalRunIsShipped() throws {
    let runs = try Self.finalRuns()
    #expect(!runs.isEmpty)
    for (run, _) in runs {
      let dir = Self.results.appendingPathComponent("checkpoints").appendingPathComponent(run)
      for name in ["model.json", "model.safetensors", "sae.json"] {
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(run): \(name) not shipped")
      }
    }
  }

  @Test(.enabled(if: optimized, "skipped in debug builds: evaluating the shipped checkpoints takes minutes unoptimised"),
        SharedData.needs(SharedData.corpus))
  func shippedCheckpointsReproduceTheSummary() throws {
    let data = try SharedData.preparedClassicCorpus()
    let budget = try Self.evaluationBudget()
    for (run, expected) in try Self.finalRuns() {
      let dir = Self.results.appendingPathComponent("checkpoints").appendingPathComponent(run)
      let got = try ReplicationReport.evaluate(label: expected.label, run: run, checkpoint: dir, data: data,
                                               batches: budget.batches, batchSize: budget.batchSize)
      #expect(abs(got.ceLoss - expected.ceLoss) < 1e-4, "\(run): CE loss \(got.ceLoss) vs \(expected.ceLoss)")
      #expect(abs(got.compoundCEIncrease - expected.compoundCEIncrease) < 1e-3,
              "\(run): compound CE increase \(got.compoundCEIncrease) vs \(expected.compoundCEIncrease)")
      #expect(got.saes.map(\.key) == expected.saes.map(\.key), "\(run): SAE keys")
      for (g, e) in zip(got.saes, expected.saes) {
        #expect(abs(g.l0 - e.l0) < 1e-3, "\(run) \(g.key): L0 \(g.l0) vs \(e.l0)")
        #expect(abs(g.deadFraction - e.deadFraction) < 1e-3, "\(run) \(g.key): dead fraction \(g.deadFraction) vs \(e.deadFraction)")
        if let gc = g.ceIncrease, let ec = e.ceIncrease {
          #expect(abs(gc - ec) < 1e-3, "\(run) \(g.key): CE increase \(gc) vs \(ec)")
        } else {
          #expect(g.ceIncrease == nil && e.ceIncrease == nil, "\(run) \(g.key): CE increase present on one side only")
        }
        #expect(g.checkpointStep == e.checkpointStep, "\(run) \(g.key): checkpoint step")
      }
    }
  }
}
