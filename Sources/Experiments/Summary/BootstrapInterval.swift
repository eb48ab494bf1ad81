import Tensor

/// A 95% bootstrap confidence interval of a mean, as the reference computes it: `resamples` means of
/// resamples (with replacement, same size) of the values, sorted; the interval is
/// [stats[⌊0.025·R⌋], stats[⌊0.975·R⌋]].
public struct BootstrapInterval: Sendable, Equatable, Codable {
  public var mean: Double
  public var lower: Double
  public var upper: Double

  public init(mean: Double, lower: Double, upper: Double) {
    self.mean = mean
    self.lower = lower
    self.upper = upper
  }

  /// The mean of `values` and its bootstrap interval, drawn with `generator`.
  public init(values: [Float], resamples: Int = 1000, confidence: Double = 0.95, generator: inout RandomGenerator) {
    precondition(!values.isEmpty && resamples > 0, "bootstrap needs values and resamples")
    let n = values.count
    var total = 0.0
    for v in values { total += Double(v) }
    var stats = [Double](repeating: 0, count: resamples)
    let draw = RandomGenerator.UniformIndex(below: n)  // the draws of generator.nextInt(below: n)
    values.withUnsafeBufferPointer { p in
      for r in 0..<resamples {
        var s = 0.0
        for _ in 0..<n { s += Double(p[draw.next(&generator)]) }
        stats[r] = s / Double(n)
      }
    }
    stats.sort()
    let alpha = (1 - confidence) / 2
    let lo = Int(alpha * Double(resamples)), hi = Swift.min(resamples - 1, Int((1 - alpha) * Double(resamples)))
    self.init(mean: total / Double(n), lower: stats[lo], upper: stats[hi])
  }
}

