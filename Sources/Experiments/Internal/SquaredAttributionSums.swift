import Foundation
import Tensor

/// The sums of squared IG attributions of one pair, [F0, targets] in Float: entry (i, j) is
/// Σ_v (d_i · v)² over the step-scaled, α-summed gradient vectors v of target j seen so far, with
/// d_i = W_dec[i] the upstream decoder row; the attribution is its square root.
///
/// Each batch's vectors arrive as the threads' `PartialGram`s (Σ v vᵀ per target, Double) and are folded
/// in at the end of the batch, so no C×C state outlives a batch: M_j, summed over the threads in a fixed
/// order, is factored as G·Gᵀ (`PivotedCholesky`, Double), and d_iᵀM_jd_i = |Gᵀd_i|² is added as a sum of
/// squares of float dot products (one sgemm of the decoder with the factors of a chunk of targets). A sum of
/// squares has no cancellation: each term is nonnegative and carries only the float rounding of its dot
/// product, of the order of the gradients' own rounding, so tiny attributions stay accurate (evaluating
/// the quadratic form dᵀMd itself cancels when d is nearly orthogonal to every v, which is why M and its
/// factor are in Double). Across batches the sums only add nonnegative terms.
final class SquaredAttributionSums {
  let sources: Int
  let targets: Int
  let c: Int
  /// [F0, targets].
  private(set) var sums: Tensor

  init(sources: Int, targets: Int, c: Int) {
    self.sources = sources
    self.targets = targets
    self.c = c
    sums = Tensor(zeros: [sources, targets])
  }

  /// Adds the targets touched in `partials` (summed in order) and clears them; `decoder` is W_dec [F0, C].
  func fold(_ partials: ArraySlice<PartialGram>, decoder: Tensor) {
    precondition(decoder.shape == [sources, c], "decoder \(decoder.shape) does not match [\(sources), \(c)]")
    var list: [Int] = []
    for j in 0..<targets where partials.contains(where: { $0.touched[j] }) { list.append(j) }
    guard !list.isEmpty else { return }
    let f0 = sources, n = c, t = targets
    // Factor columns per sgemm: a [F0, width] product of about 1 MiB, at least one target's C columns.
    let width = Swift.max(n, (1 << 18) / Swift.max(f0, 1) / n * n)
    let po = sums.unsafeMutablePointer()
    withExtendedLifetime(decoder) {
      let pd = decoder.unsafePointer
      list.withUnsafeBufferPointer { targetList in
        Parallel.forRanges(targetList.count, grain: 1) { range in
          let m = UnsafeMutablePointer<Double>.allocate(capacity: n * n)
          let column = UnsafeMutablePointer<Double>.allocate(capacity: n)
          let perm = UnsafeMutablePointer<Int>.allocate(capacity: n)
          let factors = UnsafeMutablePointer<Float>.allocate(capacity: n * width)  // [C, width]
          let q = UnsafeMutablePointer<Float>.allocate(capacity: width * f0)  // [width, F0]
          let acc = UnsafeMutablePointer<Float>.allocate(capacity: f0)
          var chunkTargets: [Int] = [], chunkEnds: [Int] = []
          chunkTargets.reserveCapacity(width)
          chunkEnds.reserveCapacity(width)
          defer {
            m.deallocate(); column.deallocate(); perm.deallocate(); factors.deallocate(); q.deallocate()
            acc.deallocate()
          }
          var used = 0
          // sums[i, j] += Σ_k (g_k · d_i)² for the chunk's targets: q = factorsᵀ·W_decᵀ, [used, F0].
          func flush() {
            guard used > 0 else { return }
            BLAS.sgemmSerial(transposeA: true, transposeB: true, m: used, n: f0, k: n, a: factors, lda: width,
                             b: pd, ldb: n, c: q, ldc: f0)
            var k0 = 0
            for (slot, j) in chunkTargets.enumerated() {
              let k1 = chunkEnds[slot]
              acc.update(repeating: 0, count: f0)
              for k in k0..<k1 {
                let qk = q + k * f0
                for i in 0..<f0 { acc[i] += qk[i] * qk[i] }
              }
              for i in 0..<f0 { po[i * t + j] += acc[i] }
              k0 = k1
            }
            used = 0
            chunkTargets.removeAll(keepingCapacity: true)
            chunkEnds.removeAll(keepingCapacity: true)
          }
          for index in range {
            let j = targetList[index]
            m.update(repeating: 0, count: n * n)
            for p in partials where p.touched[j] { p.drain(target: j, into: m) }
            let rank = PivotedCholesky.factor(m, n: n, perm: perm, column: column)
            guard rank > 0 else { continue }
            if used + rank > width { flush() }
            // factors[perm[a], used + k] = L[a, k] (k ≤ a), 0 above the diagonal.
            for a in 0..<n {
              let src = m + a * n, dst = factors + perm[a] * width + used
              let filled = Swift.min(a + 1, rank)
              for k in 0..<filled { dst[k] = Float(src[k]) }
              if filled < rank { (dst + filled).update(repeating: 0, count: rank - filled) }
            }
            used += rank
            chunkTargets.append(j)
            chunkEnds.append(used)
          }
          flush()
        }
      }
    }
    for p in partials { for j in list { p.touched[j] = false } }
  }

  /// The attributions: the square roots of the sums, [F0, targets].
  func attributions() -> Tensor { sums.unary(.sqrt) }
}
