import Foundation
import Testing
@testable import Tensor

/// Determinism and distribution of `RandomGenerator` and the random tensor initialisers.
///
/// The hard-coded values were computed by an independent Python implementation of SplitMix64 seeding,
/// xoshiro256** and the documented uniform / Box–Muller conversions.
@Suite struct RandomGeneratorTests {
  @Test func fixedSeedGivesFixedBits() {
    var g0 = RandomGenerator(seed: 0)
    #expect([g0.next(), g0.next(), g0.next()] == [0x99ec_5f36_cb75_f2b4, 0xbf6e_1f78_4956_452a, 0x1a5f_849d_4933_e6e0])
    var g42 = RandomGenerator(seed: 42)
    #expect([g42.next(), g42.next(), g42.next()] == [0x1578_0b2e_0c2e_c716, 0x6104_d986_6d11_3a7e, 0xae17_5332_39e4_99a1])
  }

  @Test func fixedSeedGivesFixedUniformsAndNormals() {
    var u = RandomGenerator(seed: 0)
    #expect((0..<4).map { _ in u.nextUniform() } == [0.6012629866600037, 0.747774064540863, 0.10301995277404785, 0.41658902168273926])
    var n = RandomGenerator(seed: 0)
    #expect((0..<4).map { _ in n.nextNormal() } == [-0.01410679705440998, -1.0085865259170532, -1.8458950519561768, 1.0669282674789429])
    var n42 = RandomGenerator(seed: 42)
    #expect((0..<4).map { _ in n42.nextNormal() } == [-1.6132237911224365, 1.5344873666763306, 0.7816920280456543, -0.4001934826374054])
    var t = RandomGenerator(seed: 42)
    #expect(Tensor.uniform([2, 2], generator: &t).scalars
            == [0.08386296033859253, 0.37898021936416626, 0.6800433993339539, 0.9246929287910461])
  }

  @Test func sameSeedSameStreamDifferentSeedDifferentStream() {
    var a = RandomGenerator(seed: 123), b = RandomGenerator(seed: 123), c = RandomGenerator(seed: 124)
    let sa = (0..<100).map { _ in a.next() }, sb = (0..<100).map { _ in b.next() }, sc = (0..<100).map { _ in c.next() }
    #expect(sa == sb)
    #expect(zip(sa, sc).filter { $0 == $1 }.count == 0)
    #expect(a == b && a != c)
  }

  @Test func codableRoundTripKeepsStateIncludingSpareNormal() throws {
    var g = RandomGenerator(seed: 5)
    _ = g.nextNormal()  // leaves a spare normal behind
    let data = try JSONEncoder().encode(g)
    var h = try JSONDecoder().decode(RandomGenerator.self, from: data)
    #expect(g == h)
    #expect((0..<5).map { _ in g.nextNormal() } == (0..<5).map { _ in h.nextNormal() })
  }

  @Test func uniformDistribution() {
    var g = RandomGenerator(seed: 7)
    let n = 100_000
    var sum = 0.0, sumSq = 0.0, lo: Float = 1, hi: Float = 0
    for _ in 0..<n {
      let u = g.nextUniform()
      sum += Double(u); sumSq += Double(u) * Double(u)
      lo = min(lo, u); hi = max(hi, u)
    }
    let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
    #expect(lo >= 0 && hi < 1)
    #expect(lo < 1e-3 && hi > 0.999)
    #expect(abs(mean - 0.5) < 0.005)            // σ of the mean ≈ 0.0009
    #expect(abs(variance - 1.0 / 12) < 0.002)
    var t = RandomGenerator(seed: 8)
    let r = Tensor.uniform([1000], low: -3, high: -1, generator: &t)
    #expect(r.min() >= -3 && r.max() < -1 && abs(r.mean() + 2) < 0.1)
  }

  @Test func normalDistribution() {
    var g = RandomGenerator(seed: 9)
    let t = Tensor.normal([100_000], generator: &g)
    let x = t.scalars.map(Double.init)
    let mean = x.reduce(0, +) / Double(x.count)
    let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count)
    let kurt = x.map { Foundation.pow($0 - mean, 4) }.reduce(0, +) / Double(x.count) / (variance * variance)
    #expect(abs(mean) < 0.015)          // σ of the mean ≈ 0.003
    #expect(abs(variance - 1) < 0.02)
    #expect(abs(kurt - 3) < 0.1)
    #expect(abs(Double(x.filter { abs($0) < 1 }.count) / Double(x.count) - 0.6827) < 0.01)
    var h = RandomGenerator(seed: 10)
    let s = Tensor.normal([20_000], mean: 3, std: 0.5, generator: &h)
    #expect(abs(s.mean() - 3) < 0.02)
  }

  /// `nextInt(below:)`'s reciprocal remainder equals `%` for small, large and extreme divisors and dividends.
  @Test func reciprocalRemainderIsExact() {
    var g = RandomGenerator(seed: 3)
    let divisors: [UInt64] = [1, 2, 3, 5, 7, 1000, 1024, 6400, 65_537, (1 << 32) - 1, 1 << 32, (1 << 32) + 1,
                              UInt64.max / 3, UInt64.max / 3 + 1, (1 << 63) - 1, 1 << 63, UInt64.max - 1, UInt64.max]
    for d in divisors {
      let remainder = Remainder(divisor: d)
      var xs: [UInt64] = [0, 1, d - 1, d, d &+ 1, UInt64.max, UInt64.max - 1, UInt64.max - (UInt64.max % d)]
      for _ in 0..<2000 { xs.append(g.next()) }
      for _ in 0..<200 { xs.append(g.next() >> (g.next() % 64)) }
      for x in xs where remainder.of(x) != x % d {
        Issue.record("\(x) mod \(d): \(remainder.of(x)) vs \(x % d)")
      }
    }
  }

  /// `nextInt(below:)` and `UniformIndex` draw what the definition says: 64-bit outputs at or above the largest
  /// multiple of the bound are rejected, the rest taken modulo the bound (`%`, replayed on a second generator).
  @Test func uniformIndicesFollowTheDefinition() {
    for bound in [1, 2, 3, 6, 7, 1000, 6400, 1 << 20, Int.max] {
      var g = RandomGenerator(seed: UInt64(bound)), replay = g, h = g
      let draw = RandomGenerator.UniformIndex(below: bound)
      let n = UInt64(bound), limit = UInt64.max - (UInt64.max % n)
      for _ in 0..<500 {
        var x = replay.next()
        while x >= limit { x = replay.next() }
        let expected = Int(x % n)
        let drawn = draw.next(&g), viaNextInt = h.nextInt(below: bound)
        #expect(drawn == expected && viaNextInt == expected, "bound \(bound)")
      }
      let (afterDraws, afterReplay) = (g.next(), replay.next())
      #expect(afterDraws == afterReplay)
    }
  }

  @Test func nextIntAndShuffle() {
    var g = RandomGenerator(seed: 11)
    var counts = [Int](repeating: 0, count: 6)
    for _ in 0..<60_000 { counts[g.nextInt(below: 6)] += 1 }
    #expect(counts.allSatisfy { abs($0 - 10_000) < 500 })
    #expect(g.nextInt(below: 1) == 0)
    var a = Array(0..<50), b = Array(0..<50)
    var s1 = RandomGenerator(seed: 12), s2 = RandomGenerator(seed: 12)
    s1.shuffle(&a); s2.shuffle(&b)
    #expect(a == b && a != Array(0..<50) && a.sorted() == Array(0..<50))
  }

  @Test func kaimingUniformBound() {
    var g = RandomGenerator(seed: 13)
    let w = Tensor.kaimingUniform([64, 50], generator: &g)
    let bound = Float(6.0 / 50).squareRoot()
    #expect(w.max() <= bound && w.min() >= -bound)
    #expect(w.max() > 0.98 * bound && w.min() < -0.98 * bound)
    let conv = Tensor.kaimingUniform([8, 3, 2, 2], generator: &g)  // fan_in = 3·2·2
    let cb = Float(6.0 / 12).squareRoot()
    #expect(conv.max() <= cb && conv.min() >= -cb && conv.max() > 0.9 * cb)
  }
}
