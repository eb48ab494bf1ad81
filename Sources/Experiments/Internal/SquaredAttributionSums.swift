import Foundation
import Tensor

/// The sums of squared IG attributions of one pair, [F0, targets] in Float: entry (i, j) is
/// Σ_v (d_i · v)² over the step-scaled, α-summed gradient vectors v of target j seen so far, with
/// d_i = W_dec[i] the upstream decoder row; the attribution is its square root.
///
/// Each batch's vectors arrive as the threads' `PartialGram`s (Σ v vᵀ per target, Double) and are folded
/// in at the end of the batch, so no C×C state outlives a batch: M_j, summed over the threads in a fixed
/// order, is factored as G·Gᵀ (`PivotedCholesky`, Double), and d_iᵀM_jd_i = |Gᵀd_i|² is added as a sum of
/// squares of float dot products (sgemms of blocks of decoder rows with the factors of a chunk of targets;
/// full-rank M_j, the usual case, take a plain Cholesky whose triangle is multiplied by column blocks). A sum of
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
    // Factor columns per chunk (several targets' factors side by side, [C, width]) and decoder rows per
    // product: each sgemm writes a [rows, width] block of about 128 KiB that stays in L2 while its squares
    // are summed, instead of a MiB-sized product that goes through memory twice.
    let width = 8 * n
    let rowBlock = Swift.max(16, (1 << 15) / width)
    let block = 16, blocks = (n + block - 1) / block, triCap = 16, triWidth = triCap * blocks * block
    let triRowBlock = Swift.max(16, (1 << 16) / triWidth)
    let po = sums.unsafeMutablePointer()
    withExtendedLifetime(decoder) {
      let pd = decoder.unsafePointer
      list.withUnsafeBufferPointer { targetList in
        Parallel.forRanges(targetList.count, grain: 1) { range in
          let m = UnsafeMutablePointer<Double>.allocate(capacity: n * n)
          let column = UnsafeMutablePointer<Double>.allocate(capacity: n)
          let perm = UnsafeMutablePointer<Int>.allocate(capacity: n)
          let factors = UnsafeMutablePointer<Float>.allocate(capacity: n * width)  // [C, width]
          let q = UnsafeMutablePointer<Float>.allocate(capacity: rowBlock * width)  // [rowBlock, width]
          var chunkTargets: [Int] = [], chunkEnds: [Int] = []
          chunkTargets.reserveCapacity(width)
          chunkEnds.reserveCapacity(width)
          defer {
            m.deallocate(); column.deallocate(); perm.deallocate(); factors.deallocate(); q.deallocate()
          }
          var used = 0
          // sums[i, j] += Σ_k (d_i · g_k)² for the chunk's targets: q = W_dec[i0..<i1]·factors, [rows, used].
          func flush() {
            guard used > 0 else { return }
            var i0 = 0
            while i0 < f0 {
              let rows = Swift.min(rowBlock, f0 - i0)
              BLAS.sgemmSerial(transposeA: false, transposeB: false, m: rows, n: used, k: n, a: pd + i0 * n, lda: n,
                               b: factors, ldb: width, c: q, ldc: used)
              for r in 0..<rows {
                let qr = q + r * used, out = po + (i0 + r) * t
                var k0 = 0
                for (slot, j) in chunkTargets.enumerated() {
                  let k1 = chunkEnds[slot]
                  out[j] += Self.sumOfSquares(qr + k0, count: k1 - k0)
                  k0 = k1
                }
              }
              i0 += rows
            }
            used = 0
            chunkTargets.removeAll(keepingCapacity: true)
            chunkEnds.removeAll(keepingCapacity: true)
          }
          // Full-rank targets (plain Cholesky, L lower triangular in the decoder's own column order): their
          // factors are stored by column blocks of `block`, block b of every target side by side, so block b's
          // product only runs over the rows b·block..<C where L is nonzero (about 5/8 of the full product).
          let tri = UnsafeMutablePointer<Float>.allocate(capacity: n * triWidth)  // [C, triWidth]
          let qt = UnsafeMutablePointer<Float>.allocate(capacity: triRowBlock * triWidth)
          let backup = UnsafeMutablePointer<Double>.allocate(capacity: n * n)
          var triTargets: [Int] = []
          triTargets.reserveCapacity(triCap)
          defer { tri.deallocate(); qt.deallocate(); backup.deallocate() }
          func flushTriangular() {
            let count = triTargets.count
            guard count > 0 else { return }
            var i0 = 0
            while i0 < f0 {
              let rows = Swift.min(triRowBlock, f0 - i0)
              for b in 0..<blocks {
                let k0 = b * block, bw = Swift.min(block, n - k0), col = b * triCap * block
                BLAS.sgemmSerial(transposeA: false, transposeB: false, m: rows, n: count * bw, k: n - k0,
                                 a: pd + i0 * n + k0, lda: n, b: tri + k0 * triWidth + col, ldb: triWidth,
                                 c: qt + col, ldc: triWidth)
              }
              for r in 0..<rows {
                let qr = qt + r * triWidth, out = po + (i0 + r) * t
                if n % block == 0 {
                  // Sixteen lanes over the blocks, one horizontal sum per target.
                  for (slot, j) in triTargets.enumerated() {
                    var acc = SIMD16<Float>(repeating: 0)
                    for b in 0..<blocks {
                      let x = UnsafeRawPointer(qr + b * triCap * block + slot * block).loadUnaligned(
                        as: SIMD16<Float>.self)
                      acc += x * x
                    }
                    out[j] += acc.sum()
                  }
                } else {
                  for (slot, j) in triTargets.enumerated() {
                    var s: Float = 0
                    for b in 0..<blocks {
                      let bw = Swift.min(block, n - b * block)
                      s += Self.sumOfSquares(qr + b * triCap * block + slot * bw, count: bw)
                    }
                    out[j] += s
                  }
                }
              }
              i0 += rows
            }
            triTargets.removeAll(keepingCapacity: true)
          }
          for index in range {
            let j = targetList[index]
            m.update(repeating: 0, count: n * n)
            for p in partials where p.touched[j] { p.drain(target: j, into: m) }
            backup.update(from: m, count: n * n)
            if PivotedCholesky.factorFullRank(m, n: n) {
              if triTargets.count == triCap { flushTriangular() }
              let slot = triTargets.count
              // tri[a, b·cap·block + slot·bw + e] = L[a, b·block + e] (0 above the diagonal), rows a ≥ b·block.
              for b in 0..<blocks {
                let k0 = b * block, bw = Swift.min(block, n - k0)
                for a in k0..<n {
                  let src = m + a * n + k0, dst = tri + a * triWidth + b * triCap * block + slot * bw
                  let filled = Swift.min(a - k0 + 1, bw)
                  for e in 0..<filled { dst[e] = Float(src[e]) }
                  if filled < bw { (dst + filled).update(repeating: 0, count: bw - filled) }
                }
              }
              triTargets.append(j)
              continue
            }
            m.update(from: backup, count: n * n)
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
          flushTriangular()
        }
      }
    }
    for p in partials { for j in list { p.touched[j] = false } }
  }

  /// Σ p[k]² over `count` floats, in eight lanes (then added pairwise).
  @inline(__always)
  private static func sumOfSquares(_ p: UnsafePointer<Float>, count: Int) -> Float {
    var a = SIMD8<Float>(repeating: 0), b = SIMD8<Float>(repeating: 0)
    var k = 0
    while k + 16 <= count {
      let x = UnsafeRawPointer(p + k).loadUnaligned(as: SIMD8<Float>.self)
      let y = UnsafeRawPointer(p + k + 8).loadUnaligned(as: SIMD8<Float>.self)
      a += x * x
      b += y * y
      k += 16
    }
    var s = (a + b).sum()
    while k < count { s += p[k] * p[k]; k += 1 }
    return s
  }

  /// The attributions: the square roots of the sums, [F0, targets].
  func attributions() -> Tensor { sums.unary(.sqrt) }
}
