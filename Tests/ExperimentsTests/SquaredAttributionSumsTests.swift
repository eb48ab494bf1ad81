import Foundation
import Tensor
import Testing
@testable import Experiments

/// The per-batch Gram folding (`PartialGram`, `PivotedCholesky`, `SquaredAttributionSums`) equals the plain
/// definition Σ_v (d_i · v)², summed in Double, on random data.
@Suite struct SquaredAttributionSumsTests {
  /// Random vectors per (thread, batch, target): some targets untouched, some with fewer vectors than C
  /// (singular Gram matrices), one with vectors nearly orthogonal to a decoder row (tiny attributions).
  @Test(arguments: [(c: 8, f0: 13, targets: 7), (c: 64, f0: 70, targets: 5)])
  func foldMatchesDirectSumOfSquares(c: Int, f0: Int, targets: Int) throws {
    var g = RandomGenerator(seed: UInt64(c * 1000 + f0))
    var decoder = [Float](repeating: 0, count: f0 * c)
    for e in decoder.indices { decoder[e] = g.nextNormal() }
    // Row 0 orthogonal to direction 0; target 1's vectors lie almost along direction 0.
    decoder[0] = 0
    let w = Tensor(shape: [f0, c], scalars: decoder)
    let sums = SquaredAttributionSums(sources: f0, targets: targets, c: c)
    let partials = [PartialGram(targets: targets + 2, c: c), PartialGram(targets: targets + 2, c: c)]
    var expected = [Double](repeating: 0, count: f0 * targets), scale = expected
    for batch in 0..<3 {
      for (thread, partial) in partials.enumerated() {
        for j in 0..<targets where j != 2 && (j + batch + thread) % 4 != 0 {
          let count = (j == 3 ? 2 : 1 + g.nextInt(below: 2 * c))
          var rows = [Float](repeating: 0, count: count * c)
          for r in 0..<count {
            for e in 0..<c {
              rows[r * c + e] = j == 1 ? (e == 0 ? 10 + g.nextNormal() : 1e-4 * g.nextNormal()) : g.nextNormal()
            }
          }
          rows.withUnsafeBufferPointer { partial.add(target: j, rows: $0.baseAddress!, count: count) }
          for i in 0..<f0 {
            for r in 0..<count {
              var dot = 0.0
              for e in 0..<c { dot += Double(decoder[i * c + e]) * Double(rows[r * c + e]) }
              expected[i * targets + j] += dot * dot
              var dd = 0.0, vv = 0.0
              for e in 0..<c {
                dd += Double(decoder[i * c + e] * decoder[i * c + e])
                vv += Double(rows[r * c + e] * rows[r * c + e])
              }
              scale[i * targets + j] += dd * vv
            }
          }
        }
      }
      sums.fold(partials[...], decoder: w)
      #expect(partials.allSatisfy { p in !p.touched.contains(true) }, "partials cleared after a fold")
    }
    let got = sums.sums.scalars
    for i in 0..<f0 {
      for j in 0..<targets {
        let e = expected[i * targets + j], a = Double(got[i * targets + j])
        if j == 2 { #expect(a == 0); continue }
        // Float rounding of each dot product: relative to |d_i|²·Σ|v|², plus a tight relative bound.
        #expect(Swift.abs(a - e) <= 1e-5 * e + 1e-6 * scale[i * targets + j], "(\(i), \(j)): \(a) vs \(e)")
      }
    }
    // The tiny attributions (row 0 against target 1) keep their relative accuracy.
    let tiny = expected[1], tinyGot = Double(got[1])
    #expect(tiny > 0 && tiny < 1e-4 * expected[1 * targets + 1])
    #expect(Swift.abs(tinyGot - tiny) <= 1e-3 * tiny, "tiny attribution \(tinyGot) vs \(tiny)")
    let roots = sums.attributions()
    #expect(roots.shape == [f0, targets])
    #expect(Swift.abs(roots.scalars[5] - got[5].squareRoot()) <= 1e-6 * got[5].squareRoot())
  }

  @Test func pivotedCholeskyOfASingularMatrix() {
    // M = A·Aᵀ with A [6, 3]: rank 3.
    let n = 6
    var g = RandomGenerator(seed: 3)
    let a = (0..<(n * 3)).map { _ in Double(g.nextNormal()) }
    var m = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { for k in 0..<3 { m[i * n + j] += a[i * 3 + k] * a[j * 3 + k] } } }
    let original = m
    var perm = [Int](repeating: 0, count: n), column = [Double](repeating: 0, count: n)
    let rank = PivotedCholesky.factor(&m, n: n, perm: &perm, column: &column)
    #expect(rank == 3)
    var gm = [Double](repeating: 0, count: n * rank)
    for r in 0..<n { for k in 0..<Swift.min(r + 1, rank) { gm[perm[r] * rank + k] = m[r * n + k] } }
    for i in 0..<n {
      for j in 0..<n {
        var s = 0.0
        for k in 0..<rank { s += gm[i * rank + k] * gm[j * rank + k] }
        #expect(Swift.abs(s - original[i * n + j]) <= 1e-12 * 10, "(\(i), \(j))")
      }
    }
  }
}
