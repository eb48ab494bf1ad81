import Foundation
import SAE
import Tensor
import Testing
@testable import Experiments

/// AUCs, their errors and relative improvements against hand-computed values.
@Suite struct ScalarSummaryTests {
  /// A curve with the given means and a symmetric interval of half-width `halfWidth` at every point.
  func curve(_ edges: [Int], _ means: [Double], halfWidth: Double) -> AblationCurve {
    AblationCurve(points: zip(edges, means).map {
      AblationCurve.Point(edges: $0, interval: BootstrapInterval(mean: $1, lower: $1 - halfWidth, upper: $1 + halfWidth))
    })
  }

  @Test func trapezoidAUCAndErrorByHand() {
    // Means 4, 2, 0 at N = 1, 3, 7: (3−1)·(4+2)/2 + (7−3)·(2+0)/2 = 6 + 4 = 10.
    let topK = curve([1, 3, 7], [4, 2, 0], halfWidth: 1)
    #expect(topK.auc == 10)
    // Upper minus lower area = 2 · (7 − 1) = 12; the error is half of it.
    #expect(topK.aucError == 6)
    // Without the last point only the first trapezoid remains.
    #expect(topK.withoutLastPoint.points.map(\.edges) == [1, 3])
    #expect(topK.withoutLastPoint.auc == 6 && topK.withoutLastPoint.aucError == 2)
    // Points are sorted by N whatever the order given.
    let shuffled = AblationCurve(points: topK.points.reversed())
    #expect(shuffled.auc == 10)
  }

  @Test func relativeImprovementAndItsErrorByHand() {
    let topK = curve([1, 3, 7], [4, 2, 0], halfWidth: 1)        // AUC 10 ± 6
    let staircase = curve([1, 3, 7], [2, 1, 1], halfWidth: 0.5) // AUC 3 + 4 = 7 ± 3
    #expect(staircase.auc == 7 && staircase.aucError == 3)
    let r = RelativeImprovement(method: staircase, baseline: topK)
    #expect(abs(r.value - 0.3) < 1e-12)
    // σ_r = (7/10)·√((3/7)² + (6/10)²)
    let expected = 0.7 * ((3.0 / 7) * (3.0 / 7) + 0.36).squareRoot()
    #expect(abs(r.error - expected) < 1e-12 && abs(r.error - 0.516139) < 1e-6)
    // A worse method gives a negative improvement.
    #expect(abs(RelativeImprovement(method: topK, baseline: staircase).value - (1 - 10.0 / 7)) < 1e-12)
    // Mean over layers: mean of the values, √(Σσ²)/n.
    let mean = RelativeImprovement.mean([RelativeImprovement(value: 0.3, error: 0.3), RelativeImprovement(value: 0.5, error: 0.4)])
    #expect(abs(mean.value - 0.4) < 1e-12 && abs(mean.error - 0.25) < 1e-12)
  }

  @Test func summaryReportsImprovementsWithAndWithoutTheLastPoint() throws {
    // Constant per-position values: every bootstrap resample has the same mean, so the intervals are exact.
    func values(_ means: [Int: Float]) -> [Int: [Float]] { means.mapValues { [Float](repeating: $0, count: 8) } }
    let topK = AblationSeries(label: "TopK", values: [.transformerBlock: [0: values([1: 4, 3: 2, 7: 0]), 1: values([1: 2, 3: 2, 7: 2])]])
    let staircase = AblationSeries(label: "Staircase", values: [.transformerBlock: [0: values([1: 2, 3: 1, 7: 1]), 1: values([1: 1, 3: 1, 7: 4])]])
    let summary = try ScalarSummary(series: [topK, staircase], baseline: "TopK", resamples: 50)
    let p = try #require(summary.placements.first)
    #expect(p.placement == .transformerBlock && p.layers.map(\.layer) == [0, 1])
    // Layer 0: 1 − 7/10 = 0.3; without N = 7: 1 − 3/6 = 0.5.
    // Layer 1: TopK area 12, Staircase 2 + 10 = 12 → 0; without N = 7: 1 − 2/4 = 0.5.
    let l0 = p.layers[0], l1 = p.layers[1]
    #expect(abs(l0.improvement["Staircase"]!.value - 0.3) < 1e-12 && l0.improvement["Staircase"]!.error == 0)
    #expect(abs(l0.improvementWithoutLastPoint["Staircase"]!.value - 0.5) < 1e-12)
    #expect(abs(l1.improvement["Staircase"]!.value) < 1e-12)
    #expect(abs(l1.improvementWithoutLastPoint["Staircase"]!.value - 0.5) < 1e-12)
    #expect(abs(p.meanImprovement["Staircase"]!.value - 0.15) < 1e-12)
    #expect(abs(p.meanImprovementWithoutLastPoint["Staircase"]!.value - 0.5) < 1e-12)
    #expect(l0.improvement["TopK"] == nil)
    let table = summary.table
    #expect(table.contains("layer | TopK AUC | Staircase AUC | Staircase vs TopK | Staircase vs TopK w/o last N"))
    #expect(table.contains("\n0 | 10 ± 0 | 7 ± 0 | 30.00% ± 0.00% | 50.00% ± 0.00%\n"), "\(table)")
    #expect(table.contains("mean relative improvement of Staircase over TopK: 15.00% ± 0.00% (without the last N: 50.00% ± 0.00%)"))
    let json = summary.jsonObject
    let placements = try #require(json["placements"] as? [String: Any])
    let tb = try #require(placements[SAEPlacement.transformerBlock.rawValue] as? [String: Any])
    let cut = try #require(tb["mean_relative_improvement_without_last_point"] as? [String: Any])
    let value = try #require((cut["Staircase"] as? [String: Any])?["value"] as? Double)
    #expect(abs(value - 0.5) < 1e-12)
  }

  /// The bootstrap interval against a replay of its definition: R resamples (with replacement, same size) drawn
  /// with the seeded generator's `nextInt(below:)`, their means sorted, the interval [stats[⌊0.025R⌋],
  /// stats[⌊0.975R⌋]]. Values 1, 10, 100, 1000, 10000 make every resample's sum an exact integer that names
  /// its draw counts, so neighbouring order statistics differ and an index off by one shows.
  @Test func bootstrapIntervalIsThePercentilesOfSeededResampleMeans() {
    let values: [Float] = [1, 10, 100, 1000, 10000]
    let resamples = 200
    var g = RandomGenerator(seed: 77)
    let interval = BootstrapInterval(values: values, resamples: resamples, generator: &g)
    var replay = RandomGenerator(seed: 77)
    var sums: [Int] = []
    for _ in 0..<resamples {
      var sum = 0
      for _ in 0..<values.count { sum += [1, 10, 100, 1000, 10000][replay.nextInt(below: 5)] }
      sums.append(sum)
    }
    sums.sort()
    #expect(interval.mean == 11111.0 / 5)
    #expect(interval.lower == Double(sums[5]) / 5, "lower \(interval.lower) vs stats[5] \(Double(sums[5]) / 5)")
    #expect(interval.upper == Double(sums[195]) / 5, "upper \(interval.upper) vs stats[195] \(Double(sums[195]) / 5)")
    #expect(sums[4] != sums[5] || sums[5] != sums[6] || sums[194] != sums[195], "the order statistics should tell indices apart")
    #expect(interval.lower < interval.mean && interval.mean < interval.upper)
    // The generator advanced by exactly R·n draws: the next draw is the replay's next.
    #expect(g.next() == replay.next())
  }

  /// For many values the percentile interval approaches the normal one, mean ± 1.96·σ/√n: 400 values
  /// alternating 0 and 1 (σ = 0.5) give 0.5 ± 0.049.
  @Test func bootstrapIntervalHasTheNormalWidthForManyValues() {
    let values = (0..<400).map { Float($0 % 2) }
    var g = RandomGenerator(seed: 5)
    let interval = BootstrapInterval(values: values, resamples: 1000, generator: &g)
    #expect(interval.mean == 0.5)
    #expect(abs(interval.lower - (0.5 - 0.049)) < 0.008, "lower \(interval.lower)")
    #expect(abs(interval.upper - (0.5 + 0.049)) < 0.008, "upper \(interval.upper)")
  }

  /// A curve from per-position values: one generator seeded with the seed draws the intervals in increasing
  /// N; the AUC error is half the trapezoid area between the upper and lower curves, here computed by hand
  /// from the intervals.
  @Test func curveFromValuesDrawsIntervalsInIncreasingEdgeCountsAndIntegratesThem() {
    let values: [Int: [Float]] = [8: [0, 1, 1, 3], 2: [2, 4, 4, 9, 1], 4: [1, 2, 2, 5, 0, 0]]
    let curve = AblationCurve(values: values, resamples: 64, seed: 99)
    var g = RandomGenerator(seed: 99)
    let expected = [2, 4, 8].map { BootstrapInterval(values: values[$0]!, resamples: 64, generator: &g) }
    #expect(curve.points.map(\.edges) == [2, 4, 8])
    #expect(curve.points.map(\.interval) == expected)
    let means: [Double] = [4, 10.0 / 6, 5.0 / 4]
    #expect(curve.points.map(\.interval.mean) == means)
    let m: [Double] = expected.map(\.mean), lo: [Double] = expected.map(\.lower), hi: [Double] = expected.map(\.upper)
    // Trapezoids over [2, 4] and [4, 8].
    func trapezoids(_ y: [Double]) -> Double {
      let first: Double = 2 * (y[0] + y[1]) / 2
      let second: Double = 4 * (y[1] + y[2]) / 2
      return first + second
    }
    let auc = trapezoids(m), upper = trapezoids(hi), lower = trapezoids(lo)
    #expect(abs(curve.auc - auc) < 1e-12 && abs(curve.auc - 11.5) < 1e-12)
    #expect(abs(curve.aucError - (upper - lower) / 2) < 1e-12)
    #expect(curve.aucError > 0)
  }
}
