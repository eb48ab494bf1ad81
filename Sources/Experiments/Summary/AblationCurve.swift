import Foundation
import Tensor

/// KL divergence against the full model as a function of the number of edges kept, for one SAE series at
/// one layer pair: the mean over prompts and positions with its 95% bootstrap interval at each N.
public struct AblationCurve: Sendable, Codable {
  public struct Point: Sendable, Codable, Equatable {
    public var edges: Int
    public var interval: BootstrapInterval
  }

  /// Points in increasing N.
  public var points: [Point]

  public init(points: [Point]) { self.points = points.sorted { $0.edges < $1.edges } }

  /// A curve from per-position KL values per edge count (bootstrap seeded by `seed`, one generator for the
  /// whole curve, in increasing N).
  public init(values: [Int: [Float]], resamples: Int = 1000, seed: UInt64 = 0) {
    var g = RandomGenerator(seed: seed)
    self.init(points: values.keys.sorted().map { n in
      Point(edges: n, interval: BootstrapInterval(values: values[n]!, resamples: resamples, generator: &g))
    })
  }

  /// Trapezoid rule of y over the (linear) edge counts.
  static func trapezoid(_ x: [Int], _ y: [Double]) -> Double {
    var area = 0.0
    for i in 1..<Swift.max(x.count, 1) { area += Double(x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2 }
    return area
  }

  /// Area under the mean curve (trapezoid rule over the linear N values).
  public var auc: Double { AblationCurve.trapezoid(points.map(\.edges), points.map(\.interval.mean)) }

  /// The curve without its largest edge count (spec section 9: at N = F₀·F₁ a pair's last point is its
  /// unpruned circuit, which favours pairs that are complete there; results are reported both ways).
  public var withoutLastPoint: AblationCurve { AblationCurve(points: Array(points.dropLast())) }

  /// Half the gap between the areas under the upper and lower interval curves.
  public var aucError: Double {
    let x = points.map(\.edges)
    return (AblationCurve.trapezoid(x, points.map(\.interval.upper)) - AblationCurve.trapezoid(x, points.map(\.interval.lower))) / 2
  }
}

/// Relative sparsity improvement of a method over a baseline: r = 1 − A_m/A_t with
/// σ_r = (A_m/A_t)·√((σ_m/A_m)² + (σ_t/A_t)²); over layers, the mean of r and √(Σσ_r²)/n.
public struct RelativeImprovement: Sendable, Codable, Equatable {
  public var value: Double
  public var error: Double

  public init(value: Double, error: Double) {
    self.value = value
    self.error = error
  }

  /// Improvement of a method with area `method` ± `methodError` over a baseline `baseline` ± `baselineError`.
  public init(method: Double, methodError: Double, baseline: Double, baselineError: Double) {
    let ratio = method / baseline
    value = 1 - ratio
    error = Swift.abs(ratio) * ((methodError / method) * (methodError / method) + (baselineError / baseline) * (baselineError / baseline)).squareRoot()
  }

  /// Improvement of the curve `method` over the curve `baseline` (their AUCs and AUC errors).
  public init(method: AblationCurve, baseline: AblationCurve) {
    self.init(method: method.auc, methodError: method.aucError, baseline: baseline.auc, baselineError: baseline.aucError)
  }

  /// The mean over layers with the propagated error.
  public static func mean(_ perLayer: [RelativeImprovement]) -> RelativeImprovement {
    let n = Double(perLayer.count)
    return RelativeImprovement(value: perLayer.reduce(0) { $0 + $1.value } / n,
                               error: perLayer.reduce(0) { $0 + $1.error * $1.error }.squareRoot() / n)
  }
}
