import Foundation
import Tensor

/// Fused TopK SAE forward and backward that touch only the active features of each token.
///
/// Forward: pre = (x − b_dec)·W_enc[:, :F] + b_enc (sgemm on row blocks, reading a slice of a wider shared
/// W_enc through its leading dimension); ReLU; keep entries ≥ the row's k-th largest value (ties keep more
/// than k); x̂ = Σ_active f_j·W_dec[j] + b_dec. Backward: gradients of every input from dx̂, computed from
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
  }

  /// Rows per block of the encoder product.
  static let rowBlock = 128

  /// x [N, C]; wEnc [C, Fmax]; wDec [Fmax, C]; uses the first `featureCount` features.
  public static func forward(x: Tensor, wEnc: Tensor, bEnc: Tensor, wDec: Tensor, bDec: Tensor,
                             featureCount f: Int, k: Int) -> Forward {
    let c = x.shape.last!, n = x.count / c, fmax = wEnc.shape[1]
    precondition(wEnc.shape == [c, fmax] && wDec.shape == [fmax, c] && bEnc.shape == [f] && bDec.shape == [c] && f <= fmax,
                 "TopK SAE: shapes x \(x.shape), W_enc \(wEnc.shape), W_dec \(wDec.shape), b_enc \(bEnc.shape), b_dec \(bDec.shape) with F \(f)")
    precondition(k >= 1 && k <= f, "TopK SAE: k \(k) outside 1...\(f)")
    var centered = Tensor(uninitialized: [n, c])
    var recon = Tensor(uninitialized: [n, c])
    var topIdx = [Int32](repeating: 0, count: n * k)
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
                defer { pre.deallocate(); vals.deallocate() }
                for b in range {
                  let r0 = b * rowBlock, r1 = Swift.min(n, r0 + rowBlock), m = r1 - r0
                  for r in r0..<r1 {
                    for j in 0..<c { pc[r * c + j] = px[r * c + j] - pbd[j] }
                  }
                  for i in 0..<m { (pre + i * f).update(from: pbe, count: f) }
                  BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: f, k: c, a: pc + r0 * c, lda: c,
                                   b: pwe, ldb: fmax, beta: 1, c: pre, ldc: f)
                  var idx: [Int32] = [], val: [Float] = [], counts: [Int] = []
                  idx.reserveCapacity(m * k)
                  val.reserveCapacity(m * k)
                  counts.reserveCapacity(m)
                  for i in 0..<m {
                    let row = pre + i * f
                    for j in 0..<f { row[j] = Swift.max(row[j], 0) }  // ReLU (branch-free)
                    TopKKernel.selectRow(row, f, k, vals, tiBase + (r0 + i) * k)
                    let before = idx.count
                    let out = pr + (r0 + i) * c
                    out.update(from: pbd, count: c)
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
    let magnitudes = FeatureMagnitudes(rows: n, featureCount: f, offsets: offsets, indices: Array(blockIdx.joined()),
                                       values: Array(blockVal.joined()), leadingShape: Array(x.shape.dropLast()))
    return Forward(centered: centered, reconstruction: recon, magnitudes: magnitudes, topKIndices: topIdx)
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
    let threads = Swift.min(Parallel.threadCount, Swift.max(1, n / 256))
    // Per-thread accumulators: dW_dec rows [F, C], dW_encᵀ rows [F, C], db_enc [F].
    var accDec = Tensor(zeros: [threads, f, c]), accEncT = Tensor(zeros: [threads, f, c]), accBEnc = Tensor(zeros: [threads, f])
    var dx = needs.x || needs.bDec ? Tensor(zeros: [n, c]) : Tensor(zeros: [0])  // gradient w.r.t. the centered input
    var wEncT = Tensor(uninitialized: [f, c])  // W_enc[:, :F]ᵀ rows, for the input gradient
    let pwt = wEncT.unsafeMutablePointer()
    withExtendedLifetime(wEnc) {
      let pwe = wEnc.unsafePointer
      for j in 0..<f { for e in 0..<c { pwt[j * c + e] = pwe[e * fmax + j] } }
    }
    let pDec = accDec.unsafeMutablePointer(), pEncT = accEncT.unsafeMutablePointer(), pBEnc = accBEnc.unsafeMutablePointer()
    let pdx = dx.unsafeMutablePointer()
    let wantDx = needs.x || needs.bDec
    withExtendedLifetime((dxhat, fw.centered, wDec, wEncT)) {
      let pg = dxhat.unsafePointer, pcx = fw.centered.unsafePointer, pwd = wDec.unsafePointer
      mags.offsets.withUnsafeBufferPointer { off in
        mags.indices.withUnsafeBufferPointer { ind in
          mags.values.withUnsafeBufferPointer { vals in
            Parallel.forRanges(threads, grain: 1) { tr in
              for t in tr {
                let myDec = pDec + t * f * c, myEncT = pEncT + t * f * c, myB = pBEnc + t * f
                for r in (n * t / threads)..<(n * (t + 1) / threads) {
                  let g = pg + r * c, xc = pcx + r * c
                  for e in off[r]..<off[r + 1] {
                    let j = Int(ind[e]), v = vals[e]
                    let w = pwd + j * c
                    // d f_j = dx̂ · W_dec[j]; the ReLU and mask pass it through for active features.
                    var df: Float = 0
                    for q in 0..<c { df += g[q] * w[q] }
                    if needs.wDec {
                      let row = myDec + j * c
                      for q in 0..<c { row[q] += v * g[q] }
                    }
                    if needs.wEnc {
                      let row = myEncT + j * c
                      for q in 0..<c { row[q] += df * xc[q] }
                    }
                    myB[j] += df
                    if wantDx {
                      let we = pwt + j * c, o = pdx + r * c
                      for q in 0..<c { o[q] += df * we[q] }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    let dec = threads == 1 ? accDec.reshaped([f, c]) : accDec.sum(axis: 0)
    let encT = threads == 1 ? accEncT.reshaped([f, c]) : accEncT.sum(axis: 0)
    let bEncGrad = threads == 1 ? accBEnc.reshaped([f]) : accBEnc.sum(axis: 0)
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
    // b_dec enters as +b_dec in x̂ and −b_dec in the centered input.
    var gBDec: Tensor? = nil
    if needs.bDec {
      gBDec = dxhat.reshaped([n, c]).sum(axis: 0) - dx.sum(axis: 0)
    }
    return (needs.x ? dx.reshaped(dxhat.shape) : nil, gWEnc, needs.bEnc ? bEncGrad : nil, gWDec, gBDec)
  }
}
