import Foundation
import Tensor

/// Fused TopK SAE forward and backward that touch only the active features of each token.
///
/// Forward: pre = (x − b_dec)·W_enc[:, :F] + b_enc (sgemm on row blocks, reading a slice of a wider shared
/// W_enc through its leading dimension); ReLU; keep entries ≥ the row's k-th largest value (ties keep more
/// than k); x̂ = Σ_active f_j·W_dec[j] + b_dec; per token, Σ(x̂ − x)² and the input's norms for the loss, while
/// the row is in cache. Backward: gradients of every input from dx̂, computed from
/// the active (token, feature) pairs only — O(tokens · k · C) instead of O(tokens · F · C).
public enum TopKAutoencoderKernel {
  /// Forward results and what backward needs.
  public struct Forward {
    /// x − b_dec, [N, C].
    public var centered: Tensor
    /// x̂, [N, C].
    public var reconstruction: Tensor
    /// Active features per token.
    public var magnitudes: FeatureMagnitudes
    /// The k selected indices per token, [N, k].
    public var topKIndices: [Int32]
    /// Per token, Σ_c (x̂ − x)² (`SAELossComponents.squaredError`), for the reconstruction loss.
    public var rowSquaredErrors: [Float]
    /// Per token, the input's L2 and L1 norms (`SAELossComponents.rowNorms`), for the logged input norms.
    public var rowL2: [Float], rowL1: [Float]
  }

  /// Row chunks of the backward, each with its own weight-gradient accumulators (at most; fewer below 256 rows
  /// per chunk), shared out over the threads.
  static let partitions = 8

  /// Rows per block of the encoder product.
  public static let rowBlock = 256

  /// x [N, C]; wEnc [C, Fmax]; wDec [Fmax, C]; uses the first `featureCount` features; the encoder product runs
  /// on blocks of `rowBlock` rows (128, 256 and 512 give the same bits with OpenBLAS's SkylakeX kernels).
  public static func forward(x: Tensor, wEnc: Tensor, bEnc: Tensor, wDec: Tensor, bDec: Tensor,
                             featureCount f: Int, k: Int, rowBlock: Int = TopKAutoencoderKernel.rowBlock) -> Forward {
    let c = x.shape.last!, n = x.count / c, fmax = wEnc.shape[1]
    precondition(wEnc.shape == [c, fmax] && wDec.shape == [fmax, c] && bEnc.shape == [f] && bDec.shape == [c] && f <= fmax,
                 "TopK SAE: shapes x \(x.shape), W_enc \(wEnc.shape), W_dec \(wDec.shape), b_enc \(bEnc.shape), b_dec \(bDec.shape) with F \(f)")
    precondition(k >= 1 && k <= f, "TopK SAE: k \(k) outside 1...\(f)")
    precondition(rowBlock >= 1, "TopK SAE: row block \(rowBlock) must be at least 1")
    var centered = Tensor(uninitialized: [n, c])
    var recon = Tensor(uninitialized: [n, c])
    var topIdx = [Int32](repeating: 0, count: n * k)
    // Per-token loss inputs, each row written by the block that holds it.
    let pse = UnsafeMutablePointer<Float>.allocate(capacity: n), pl2 = UnsafeMutablePointer<Float>.allocate(capacity: n)
    let pl1 = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { pse.deallocate(); pl2.deallocate(); pl1.deallocate() }
    let blocks = (n + rowBlock - 1) / rowBlock
    // Per-block sparse results, concatenated afterwards.
    var blockIdx = [[Int32]](repeating: [], count: blocks)
    var blockVal = [[Float]](repeating: [], count: blocks)
    var blockCounts = [[Int]](repeating: [], count: blocks)
    let pc = centered.unsafeMutablePointer(), pr = recon.unsafeMutablePointer()
    withExtendedLifetime((x, wEnc, bEnc, wDec, bDec)) {
      let px = x.unsafePointer, pwe = wEnc.unsafePointer, pbe = bEnc.unsafePointer
      let pwd = wDec.unsafePointer, pbd = bDec.unsafePointer
      topIdx.withUnsafeMutableBufferPointer { ti in
        let tiBase = ti.baseAddress!
        blockIdx.withUnsafeMutableBufferPointer { bi in
          blockVal.withUnsafeMutableBufferPointer { bv in
            blockCounts.withUnsafeMutableBufferPointer { bc in
              Parallel.forRanges(blocks, grain: 1) { range in
                let pre = UnsafeMutablePointer<Float>.allocate(capacity: rowBlock * f)
                let vals = UnsafeMutablePointer<Float>.allocate(capacity: k)
                let candidates = UnsafeMutablePointer<Int32>.allocate(capacity: TopKKernel.candidateCapacity)
                let candidateValues = UnsafeMutablePointer<Float>.allocate(capacity: TopKKernel.candidateCapacity)
                defer { pre.deallocate(); vals.deallocate(); candidates.deallocate(); candidateValues.deallocate() }
                let gathered = VectorMath.vectorized && k <= 32 && f >= 64
                for b in range {
                  let r0 = b * rowBlock, r1 = Swift.min(n, r0 + rowBlock), m = r1 - r0
                  for r in r0..<r1 {
                    (pl2[r], pl1[r]) = SAELossComponents.rowNorms(px + r * c, c)
                    var j = 0
                    while VectorMath.vectorized && j + 8 <= c {
                      VectorMath.store(VectorMath.load(px + r * c + j) - VectorMath.load(pbd + j), pc + r * c + j)
                      j += 8
                    }
                    while j < c { pc[r * c + j] = px[r * c + j] - pbd[j]; j += 1 }
                  }
                  // b_enc first and the product accumulated onto it (beta 1): OpenBLAS's rounding of x·W + b.
                  for i in 0..<m { (pre + i * f).update(from: pbe, count: f) }
                  BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: f, k: c, a: pc + r0 * c, lda: c,
                                   b: pwe, ldb: fmax, beta: 1, c: pre, ldc: f)
                  var idx: [Int32] = [], val: [Float] = [], counts: [Int] = []
                  idx.reserveCapacity(m * k)
                  val.reserveCapacity(m * k)
                  counts.reserveCapacity(m)
                  for i in 0..<m {
                    let row = pre + i * f
                    let top = tiBase + (r0 + i) * k
                    let before = idx.count
                    let out = pr + (r0 + i) * c
                    out.update(from: pbd, count: c)
                    // ReLU (as Swift.max(v, 0): NaN stays, −0 becomes 0), with the lane maxima of the
                    // selection's lower bound in the same pass.
                    var bound = -Float.infinity
                    var j = 0
                    if gathered {
                      var acc = (activate(row, 0), activate(row, 8), activate(row, 16), activate(row, 24))
                      j = 32
                      while j + 32 <= f {
                        acc.0 = VectorMath.max(acc.0, activate(row, j))
                        acc.1 = VectorMath.max(acc.1, activate(row, j + 8))
                        acc.2 = VectorMath.max(acc.2, activate(row, j + 16))
                        acc.3 = VectorMath.max(acc.3, activate(row, j + 24))
                        j += 32
                      }
                      bound = TopKKernel.boundOfLaneMaxima(acc, k)
                    }
                    while VectorMath.vectorized && j + 8 <= f { _ = activate(row, j); j += 8 }
                    while j < f { row[j] = Swift.max(row[j], 0); j += 1 }
                    // Fast path: rank the few entries ≥ the bound; they hold every entry that is kept.
                    if gathered && bound > -Float.infinity,
                       let count = TopKKernel.gatherCandidates(row, f, bound: bound, indices: candidates, values: candidateValues),
                       count >= k {
                      TopKKernel.rankCandidates(indices: candidates, values: candidateValues, count: count, k: k, vals, top)
                      if vals[0] > 0 {
                        let t = Swift.max(vals[k - 1], Float.leastNonzeroMagnitude)
                        for q in 0..<count where candidateValues[q] >= t {
                          idx.append(candidates[q])
                          val.append(candidateValues[q])
                        }
                        decode(idx, val, from: before, pwd, out, c)
                      }
                      pse[r0 + i] = SAELossComponents.squaredError(out, px + (r0 + i) * c, c)
                      counts.append(idx.count - before)
                      continue
                    }
                    TopKKernel.scan(row, f, k, lowerBound: bound, vals, top)
                    if vals[0] > 0 {
                      // keep every entry ≥ the k-th largest (ties keep more than k); zeros contribute nothing
                      let t = Swift.max(vals[k - 1], Float.leastNonzeroMagnitude)
                      let tv = VectorMath.V(repeating: t)
                      var j = 0
                      while j < f {
                        if VectorMath.vectorized && j + 8 <= f && !any(VectorMath.load(row + j) .>= tv) {
                          j += 8
                          continue
                        }
                        let end = VectorMath.vectorized ? Swift.min(f, j + 8) : f
                        while j < end {
                          let v = row[j]
                          if v >= t {
                            idx.append(Int32(j))
                            val.append(v)
                            let w = pwd + j * c
                            for e in 0..<c { out[e] += v * w[e] }
                          }
                          j += 1
                        }
                      }
                    }
                    pse[r0 + i] = SAELossComponents.squaredError(out, px + (r0 + i) * c, c)
                    counts.append(idx.count - before)
                  }
                  bi[b] = idx
                  bv[b] = val
                  bc[b] = counts
                }
              }
            }
          }
        }
      }
    }
    var offsets = [Int](repeating: 0, count: n + 1)
    var total = 0, r = 0
    for counts in blockCounts { for cnt in counts { total += cnt; r += 1; offsets[r] = total } }
    let magnitudes = FeatureMagnitudes(rows: n, featureCount: f, offsets: offsets, indices: concatenated(blockIdx, total),
                                       values: concatenated(blockVal, total), leadingShape: Array(x.shape.dropLast()))
    return Forward(centered: centered, reconstruction: recon, magnitudes: magnitudes, topKIndices: topIdx,
                   rowSquaredErrors: Array(UnsafeBufferPointer(start: pse, count: n)),
                   rowL2: Array(UnsafeBufferPointer(start: pl2, count: n)), rowL1: Array(UnsafeBufferPointer(start: pl1, count: n)))
  }

  /// The blocks' arrays one after another (`total` elements in all), copied block by block: `Array(joined())`
  /// walked the elements one at a time (1.3% of a TopK SAE step).
  static func concatenated<T>(_ blocks: [[T]], _ total: Int) -> [T] {
    [T](unsafeUninitializedCapacity: total) { buffer, count in
      var at = 0
      for block in blocks where !block.isEmpty {
        precondition(at + block.count <= total, "TopK SAE: more sparse entries in the blocks than the \(total) counted")
        block.withUnsafeBufferPointer { (buffer.baseAddress! + at).initialize(from: $0.baseAddress!, count: block.count) }
        at += block.count
      }
      precondition(at == total, "TopK SAE: \(at) sparse entries in the blocks, \(total) counted")
      count = at
    }
  }

  /// row[j..<j+8] = ReLU(row[j..<j+8]) (as Swift.max(v, 0): NaN stays, −0 becomes 0); returns it.
  @inline(__always)
  static func activate(_ row: UnsafeMutablePointer<Float>, _ j: Int) -> VectorMath.V {
    let v = VectorMath.load(row + j)
    let r = v.replacing(with: 0, where: v .<= 0)
    VectorMath.store(r, row + j)
    return r
  }

  /// out[0..<c] += Σ_e val[e]·W_dec[idx[e]] over the entries e ≥ `from`, one after another in their order
  /// (the same sums as `accumulate` per entry). At C = 64 the row stays in eight vector registers for all the
  /// entries instead of passing through memory once per entry.
  @inline(__always)
  static func decode(_ idx: [Int32], _ val: [Float], from: Int, _ w: UnsafePointer<Float>,
                     _ out: UnsafeMutablePointer<Float>, _ c: Int) {
    guard from < idx.count else { return }
    guard VectorMath.vectorized && c == 64 else {
      for e in from..<idx.count { accumulate(val[e], w + Int(idx[e]) * c, out, c) }
      return
    }
    typealias V = VectorMath.V
    var a0 = VectorMath.load(out), a1 = VectorMath.load(out + 8), a2 = VectorMath.load(out + 16), a3 = VectorMath.load(out + 24)
    var a4 = VectorMath.load(out + 32), a5 = VectorMath.load(out + 40), a6 = VectorMath.load(out + 48), a7 = VectorMath.load(out + 56)
    idx.withUnsafeBufferPointer { ib in
      val.withUnsafeBufferPointer { vb in
        for e in from..<ib.count {
          let r = w + Int(ib[e]) * 64, v = V(repeating: vb[e])
          a0 = a0 + v * VectorMath.load(r); a1 = a1 + v * VectorMath.load(r + 8)
          a2 = a2 + v * VectorMath.load(r + 16); a3 = a3 + v * VectorMath.load(r + 24)
          a4 = a4 + v * VectorMath.load(r + 32); a5 = a5 + v * VectorMath.load(r + 40)
          a6 = a6 + v * VectorMath.load(r + 48); a7 = a7 + v * VectorMath.load(r + 56)
        }
      }
    }
    VectorMath.store(a0, out); VectorMath.store(a1, out + 8); VectorMath.store(a2, out + 16); VectorMath.store(a3, out + 24)
    VectorMath.store(a4, out + 32); VectorMath.store(a5, out + 40); VectorMath.store(a6, out + 48); VectorMath.store(a7, out + 56)
  }

  /// out[0..<c] += v·w[0..<c].
  @inline(__always)
  static func accumulate(_ v: Float, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ c: Int) {
    VectorMath.axpy(v, w, out, c)
  }

  /// Σ over the leading axis of `acc` [chunks, shape…], added in chunk order for every element (elements split
  /// over the threads), reshaped to `shape`.
  static func sumChunks(_ acc: Tensor, _ chunks: Int, _ shape: [Int]) -> Tensor {
    guard chunks > 1 else { return acc.reshaped(shape) }
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(acc) {
      VectorMath.sumChunks(acc.unsafePointer, chunks: chunks, size: acc.count / chunks, into: po)
    }
    return out
  }

  /// Which gradients to compute.
  public struct Needs {
    public var x = false, wEnc = false, bEnc = false, wDec = false, bDec = false
    public init(x: Bool = false, wEnc: Bool = false, bEnc: Bool = false, wDec: Bool = false, bDec: Bool = false) {
      self.x = x; self.wEnc = wEnc; self.bEnc = bEnc; self.wDec = wDec; self.bDec = bDec
    }
  }

  /// Gradients of (x, W_enc, b_enc, W_dec, b_dec) from dx̂ [N, C]. Weight gradients have the full (shared)
  /// shapes; only features in `trainable` (default: all used) receive nonzero weight gradients.
  public static func backward(_ dxhat: Tensor, forward fw: Forward, wEnc: Tensor, wDec: Tensor, featureCount f: Int,
                              trainable: Range<Int>? = nil, needs: Needs)
    -> (x: Tensor?, wEnc: Tensor?, bEnc: Tensor?, wDec: Tensor?, bDec: Tensor?) {
    let c = dxhat.shape.last!, n = dxhat.count / c, fmax = wEnc.shape[1]
    let live = trainable ?? 0..<f
    let mags = fw.magnitudes
    // A fixed number of row chunks with their own accumulators, independent of the thread count, so that the
    // weight gradients are the same bits on any number of cores.
    let chunks = Swift.min(partitions, Swift.max(1, n / 256))
    // Per-chunk accumulators: dW_dec rows [F, C], dW_encᵀ rows [F, C], db_enc [F].
    var accDec = Tensor(zeros: [chunks, f, c]), accEncT = Tensor(zeros: [chunks, f, c]), accBEnc = Tensor(zeros: [chunks, f])
    let wantDx = needs.x
    var dx = wantDx ? Tensor(zeros: [n, c]) : Tensor(zeros: [0])  // gradient w.r.t. the centered input
    var wEncT = Tensor(uninitialized: wantDx ? [f, c] : [0])  // W_enc[:, :F]ᵀ rows, for the input gradient
    let pwt = wEncT.unsafeMutablePointer()
    if wantDx {
      withExtendedLifetime(wEnc) {
        let pwe = wEnc.unsafePointer
        for j in 0..<f { for e in 0..<c { pwt[j * c + e] = pwe[e * fmax + j] } }
      }
    }
    let pDec = accDec.unsafeMutablePointer(), pEncT = accEncT.unsafeMutablePointer(), pBEnc = accBEnc.unsafeMutablePointer()
    let pdx = dx.unsafeMutablePointer()
    withExtendedLifetime((dxhat, fw.centered, wDec, wEncT)) {
      let pg = dxhat.unsafePointer, pcx = fw.centered.unsafePointer, pwd = wDec.unsafePointer
      mags.offsets.withUnsafeBufferPointer { off in
        mags.indices.withUnsafeBufferPointer { ind in
          mags.values.withUnsafeBufferPointer { vals in
            Parallel.forRanges(chunks, grain: 1) { tr in
              for t in tr {
                let myDec = pDec + t * f * c, myEncT = pEncT + t * f * c, myB = pBEnc + t * f
                for r in (n * t / chunks)..<(n * (t + 1) / chunks) {
                  let g = pg + r * c, xc = pcx + r * c
                  for e in off[r]..<off[r + 1] {
                    let j = Int(ind[e]), v = vals[e]
                    let w = pwd + j * c
                    // d f_j = dx̂ · W_dec[j]; the ReLU and mask pass it through for active features.
                    let df = VectorMath.dot(g, w, c)
                    if needs.wDec {
                      let row = myDec + j * c
                      accumulate(v, g, row, c)
                    }
                    if needs.wEnc {
                      let row = myEncT + j * c
                      accumulate(df, xc, row, c)
                    }
                    myB[j] += df
                    if wantDx {
                      let we = pwt + j * c, o = pdx + r * c
                      accumulate(df, we, o, c)
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    // Chunk sums in chunk order (the same bits on any number of cores).
    let dec = sumChunks(accDec, chunks, [f, c]), encT = sumChunks(accEncT, chunks, [f, c])
    let bEncGrad = sumChunks(accBEnc, chunks, [f])
    var gWDec: Tensor? = nil, gWEnc: Tensor? = nil
    if needs.wDec {
      var full = Tensor(zeros: [fmax, c])
      let pf = full.unsafeMutablePointer()
      withExtendedLifetime(dec) {
        let pd = dec.unsafePointer
        for j in live { (pf + j * c).update(from: pd + j * c, count: c) }
      }
      gWDec = full
    }
    if needs.wEnc {
      var full = Tensor(zeros: [c, fmax])
      let pf = full.unsafeMutablePointer()
      withExtendedLifetime(encT) {
        let pe = encT.unsafePointer
        for e in 0..<c { for j in live { pf[e * fmax + j] = pe[j * c + e] } }
      }
      gWEnc = full
    }
    // b_dec enters as +b_dec in x̂ and −b_dec in the centered input, whose gradient summed over tokens is
    // Σ_r Σ_active(r) df·W_enc[:, j] = W_enc[:, :F]·db_enc, so it needs no per-token input gradient.
    var gBDec: Tensor? = nil
    if needs.bDec {
      var centeredSum = Tensor(uninitialized: [c])
      let ps = centeredSum.unsafeMutablePointer()
      withExtendedLifetime((wEnc, bEncGrad)) {
        let pwe = wEnc.unsafePointer, pb = bEncGrad.unsafePointer
        for e in 0..<c { ps[e] = VectorMath.dot(pwe + e * fmax, pb, f) }
      }
      gBDec = dxhat.reshaped([n, c]).sum(axis: 0) - centeredSum
    }
    return (needs.x ? dx.reshaped(dxhat.shape) : nil, gWEnc, needs.bEnc ? bEncGrad : nil, gWDec, gBDec)
  }
}
