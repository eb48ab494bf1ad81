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
    // The draws of `generator.nextInt(below: n)`, with its rejection bound computed once and the remainder
    // taken through a reciprocal (exact; see `Remainder`) instead of a 64-bit division per draw.
    let remainder = Remainder(divisor: UInt64(n))
    let limit = UInt64.max - (UInt64.max % UInt64(n))
    values.withUnsafeBufferPointer { p in
      for r in 0..<resamples {
        var s = 0.0
        for _ in 0..<n {
          var x = generator.next()
          while x >= limit { x = generator.next() }
          s += Double(p[Int(remainder.of(x))])
        }
        stats[r] = s / Double(n)
      }
    }
    stats.sort()
    let alpha = (1 - confidence) / 2
    let lo = Int(alpha * Double(resamples)), hi = Swift.min(resamples - 1, Int((1 - alpha) * Double(resamples)))
    self.init(mean: total / Double(n), lower: stats[lo], upper: stats[hi])
  }
}

/// x mod d for a fixed d > 0, through one high multiplication by m = ⌊(2⁶⁴ − 1) / d⌋: the quotient estimate
/// q' = ⌊x·m / 2⁶⁴⌋ satisfies q − 2 ≤ q' ≤ q (m > (2⁶⁴ − 1)/d − 1 and x < 2⁶⁴), so x − q'·d lies in [0, 3d)
/// and at most two subtractions of d give the exact remainder.
struct Remainder {
  let divisor: UInt64
  let multiplier: UInt64

  init(divisor: UInt64) {
    precondition(divisor > 0, "divisor must be positive")
    self.divisor = divisor
    multiplier = UInt64.max / divisor
  }

  @inline(__always) func of(_ x: UInt64) -> UInt64 {
    var r = x &- x.multipliedFullWidth(by: multiplier).high &* divisor
    if r >= divisor { r &-= divisor }
    if r >= divisor { r &-= divisor }
    return r
  }
}
