/// A seeded pseudo-random generator whose output is identical on every machine.
///
/// Algorithm: xoshiro256** (Blackman & Vigna), state seeded from a 64-bit seed by SplitMix64.
/// - `nextUniform()`: the top 24 bits of the next 64-bit output times 2⁻²⁴, in [0, 1).
/// - `nextNormal()`: Box–Muller on two uniforms u₁ ∈ (0, 1], u₂: √(−2 ln u₁)·cos(2πu₂) computed in Double;
///   the sine partner is kept for the next call.
public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable, Sendable {
  private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
  private var spareNormal: Double?

  /// A generator seeded with `seed`.
  public init(seed: UInt64) {
    var sm = seed
    func splitmix() -> UInt64 {
      sm &+= 0x9E37_79B9_7F4A_7C15
      var z = sm
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    spareNormal = nil
  }

  @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    let result = RandomGenerator.rotl(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
    s2 ^= t
    s3 = RandomGenerator.rotl(s3, 45)
    return result
  }

  /// Uniform in [0, 1) with 24 bits of precision.
  public mutating func nextUniform() -> Float {
    Float(next() >> 40) * (1.0 / 16_777_216.0)
  }

  /// Standard normal sample.
  public mutating func nextNormal() -> Float {
    if let s = spareNormal {
      spareNormal = nil
      return Float(s)
    }
    let u1 = (Double(next() >> 11) + 1.0) * (1.0 / 9_007_199_254_740_992.0)  // (0, 1]
    let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    let r = (-2.0 * _log(u1)).squareRoot()
    let theta = 2.0 * Double.pi * u2
    spareNormal = r * _sin(theta)
    return Float(r * _cos(theta))
  }

  /// Uniform integer in `0..<upperBound`, unbiased: rejection of the top partial range of 64-bit outputs.
  public mutating func nextInt(below upperBound: Int) -> Int {
    UniformIndex(below: upperBound).next(&self)
  }

  /// The draws of `nextInt(below:)` for one bound, with its rejection limit and its remainder's reciprocal
  /// computed once, for loops that draw many indices below the same bound (a bootstrap's resamples).
  public struct UniformIndex: Sendable {
    @usableFromInline let remainder: Remainder
    /// Outputs below `limit` (a multiple of the bound) are accepted.
    @usableFromInline let limit: UInt64

    public init(below upperBound: Int) {
      precondition(upperBound > 0, "upper bound must be positive")
      remainder = Remainder(divisor: UInt64(upperBound))
      limit = UInt64.max - (UInt64.max % UInt64(upperBound))
    }

    /// The next index, exactly as `generator.nextInt(below:)` draws it.
    @inlinable @inline(__always) public func next(_ generator: inout RandomGenerator) -> Int {
      var x = generator.next()
      while x >= limit { x = generator.next() }
      return Int(remainder.of(x))
    }
  }

  /// Shuffles `array` in place (Fisher–Yates from the last element down, using `nextInt(below:)`).
  public mutating func shuffle<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    for i in stride(from: array.count - 1, to: 0, by: -1) {
      let j = nextInt(below: i + 1)
      if i != j { array.swapAt(i, j) }
    }
  }
}

/// x mod d for a fixed d > 0, through one high multiplication by m = ⌊(2⁶⁴ − 1) / d⌋: the quotient estimate
/// q' = ⌊x·m / 2⁶⁴⌋ satisfies q − 2 ≤ q' ≤ q (m > (2⁶⁴ − 1)/d − 1 and x < 2⁶⁴), so x − q'·d lies in [0, 3d)
/// and at most two subtractions of d give the exact remainder.
@usableFromInline struct Remainder: Sendable {
  @usableFromInline let divisor: UInt64
  @usableFromInline let multiplier: UInt64

  init(divisor: UInt64) {
    precondition(divisor > 0, "divisor must be positive")
    self.divisor = divisor
    multiplier = UInt64.max / divisor
  }

  @inlinable @inline(__always) func of(_ x: UInt64) -> UInt64 {
    var r = x &- x.multipliedFullWidth(by: multiplier).high &* divisor
    if r >= divisor { r &-= divisor }
    if r >= divisor { r &-= divisor }
    return r
  }
}

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Foundation.sin(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }

import Foundation
