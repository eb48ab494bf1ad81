import Foundation

/// Causal multi-head self-attention on a packed projection qkv [B, T, 3C] (q, k, v in that order, heads of
/// size hs = C/heads): y = concat_h softmax(q_h·k_hᵀ/√hs + causal mask)·v_h, y [B, T, C]. Forward and
/// backward read q, k, v in place through sgemm leading dimensions and write head outputs straight into
/// their column block of y (no transposing copies). Rows are processed in blocks so that the masked upper
/// triangle beyond each block's last key is never computed.
public enum AttentionKernel {
  /// What the backward pass needs: the attention probabilities, in the layout of the path that kept them.
  public struct Cache {
    /// From the fused loops, block-packed: [B, heads, `AttentionHeadKernel.packedCount(T)`], each head's blocks
    /// of 4 query rows stored as [4, keys they see], about half of [T, T]. From the sgemm row blocks,
    /// [B, heads, T, T], zero above the diagonal.
    public var probabilities: Tensor

    /// The probabilities [B, heads, T, T] (zero above the diagonal), from either layout.
    public func rowMajorProbabilities() -> Tensor {
      guard probabilities.rank == 3 else { return probabilities }
      let b = probabilities.shape[0], heads = probabilities.shape[1], packed = probabilities.shape[2]
      var t = 0
      while AttentionHeadKernel.packedCount(t) < packed { t += 1 }
      var out = Tensor(zeros: [b, heads, t, t])
      let po = out.unsafeMutablePointer()
      withExtendedLifetime(probabilities) {
        for bh in 0..<(b * heads) {
          for i0 in stride(from: 0, to: t, by: AttentionHeadKernel.rowBlock) {
            AttentionHeadKernel.unpackBlock(probabilities.unsafePointer + bh * packed, from: i0, length: t, into: po + bh * t * t)
          }
        }
      }
      return out
    }
  }

  /// Default number of query rows per block of the causal computation.
  public static let rowBlock = 32

  /// y [B, T, C] and the cache for `backward`; `rowBlock` query rows are computed per block.
  /// `fused: false` takes the sgemm row blocks whatever the build (for comparisons); `wholeSequences` sets
  /// whether the fused loops take whole sequences at a time (default: `copiesSequences`).
  public static func forward(_ qkv: Tensor, heads: Int, rowBlock: Int = AttentionKernel.rowBlock,
                             fused: Bool = AttentionKernel.fused, wholeSequences: Bool? = nil) -> (Tensor, Cache) {
    let (b, t, _) = dimensions(qkv, heads: heads)
    // Every entry is written below (zeros above the diagonal).
    var probs = Tensor(uninitialized: fused ? [b, heads, AttentionHeadKernel.packedCount(t)] : [b, heads, t, t])
    let y = run(qkv, heads: heads, rowBlock: rowBlock, probabilities: probs.unsafeMutablePointer(), fused: fused,
                wholeSequences: wholeSequences)
    return (y, Cache(probabilities: probs))
  }

  /// y [B, T, C] without keeping the probabilities (for passes that need no backward): each thread reuses
  /// one [rowBlock, T] buffer, so the B·heads·T² probabilities are never written to memory. Bit-identical to
  /// `forward`'s y.
  /// `fused: false` takes the sgemm row blocks whatever the build (for comparisons); `wholeSequences` as in
  /// `forward`.
  public static func inference(_ qkv: Tensor, heads: Int, rowBlock: Int = AttentionKernel.rowBlock,
                               fused: Bool = AttentionKernel.fused, wholeSequences: Bool? = nil) -> Tensor {
    run(qkv, heads: heads, rowBlock: rowBlock, probabilities: nil, fused: fused, wholeSequences: wholeSequences)
  }

  /// (B, T, C) of qkv [B, T, 3C], checked against `heads`.
  static func dimensions(_ qkv: Tensor, heads: Int) -> (Int, Int, Int) {
    precondition(qkv.rank == 3 && qkv.shape[2] % 3 == 0, "attention expects qkv [B, T, 3C], got \(qkv.shape)")
    let c = qkv.shape[2] / 3
    precondition(heads > 0 && c % heads == 0, "attention: C = \(c) is not divisible by \(heads) heads")
    return (qkv.shape[0], qkv.shape[1], c)
  }

  /// Whether the fused loops take whole sequences at a time (`run`, `backward`): a thread copies a sequence's
  /// q, k, v (and dy) rows into buffers of its own in one contiguous pass, runs every head from there, and
  /// copies the results out in one pass, instead of each head reading and writing its strided columns of the
  /// rows in memory. Taken when the batch's qkv (B·T·3C floats) exceeds 2 MiB, so that it no longer stays in
  /// cache, while a sequence's buffers (7·T·C floats in the backward) stay within 512 KiB. `bench --only
  /// attention` at shakespeare_64x4 sizes, forward and backward, head by head against whole sequences
  /// alternating: 1.13× at batch 128, 1.09× at 64, 1.10× at 32 (3 MiB), 0.96× at 16 (1.5 MiB) and 0.88× at 8.
  /// The same calls on the same values: the same bits.
  ///
  /// On this path memory traffic also overlaps the arithmetic: while a head computes, it prefetches its share of
  /// the next sequence's rows (and, backward, the next head's probabilities), a share per block of query rows
  /// (`PrefetchRanges`); the outputs and the forward's probabilities go to memory by non-temporal stores
  /// (`StreamingStore`), which skip reading the lines they overwrite. On a Zen 4 core, one thread: forward 1.14×,
  /// backward 1.22× (prefetch alone 1.07×, either kind of streamed store alone 1.03×); `bench --only attention`:
  /// head by head / whole sequences 1.17–1.26× against 1.05–1.14× before; the GPT train step, the two
  /// alternating in one process, 1.010–1.015×. The same bits.
  static func copiesSequences(batch b: Int, length t: Int, channels c: Int) -> Bool {
    b * t * 3 * c * MemoryLayout<Float>.stride > 2 << 20 && 7 * t * c * MemoryLayout<Float>.stride <= 512 * 1024
  }

  /// The forward pass; probabilities go to `probabilities` (the layout of `Cache.probabilities`) when given,
  /// else to a per-thread block buffer. Without `fused`, block rows r0..<r1 of a head sit at row offset r0 of
  /// the full matrix or 0 of the buffer, with the same leading dimension T, so both paths make identical calls.
  static func run(_ qkv: Tensor, heads: Int, rowBlock: Int, probabilities pp: UnsafeMutablePointer<Float>?, fused: Bool,
                  wholeSequences: Bool?) -> Tensor {
    let (b, t, c) = dimensions(qkv, heads: heads)
    let hs = c / heads, perHead = AttentionHeadKernel.packedCount(t)  // a head's probabilities (fused layout)
    var y = Tensor(uninitialized: [b, t, c])
    let py = y.unsafeMutablePointer()
    let blk = Swift.max(1, Swift.min(rowBlock, t))
    withExtendedLifetime(qkv) {
      let base = qkv.unsafePointer
      if fused && (wholeSequences ?? copiesSequences(batch: b, length: t, channels: c)) {
        Parallel.forRanges(b, grain: 1) { range in
          let local = UnsafeMutablePointer<Float>.allocate(capacity: t * 4 * c)
          defer { local.deallocate() }
          let lq = local, lo = local + t * 3 * c  // the sequence's qkv [T, 3C] and head outputs [T, C]
          for bi in range {
            lq.update(from: base + bi * t * 3 * c, count: t * 3 * c)
            for h in 0..<heads {
              // Each head fetches its share of the next sequence's qkv while it computes.
              var ahead = PrefetchRanges()
              if bi + 1 < range.upperBound {
                ahead.add(base + (bi + 1) * t * 3 * c, bytes: t * 3 * c * 4, share: h, of: heads)
              }
              AttentionHeadKernel.forward(q: lq + h * hs, k: lq + c + h * hs, v: lq + 2 * c + h * hs, stride: 3 * c, length: t,
                                          headSize: hs, out: lo + h * hs, outStride: c,
                                          probabilities: pp.map { $0 + (bi * heads + h) * perHead },
                                          packed: true, exactSoftmax: false, streamProbabilities: true, prefetch: ahead)
            }
            StreamingStore.copy(lo, to: py + bi * t * c, count: t * c)
          }
          StreamingStore.fence()
        }
        return
      }
      Parallel.forRanges(b * heads, grain: 1) { range in
        let scratch = pp == nil && !fused ? UnsafeMutablePointer<Float>.allocate(capacity: blk * t) : nil
        defer { scratch?.deallocate() }
        for bh in range {
          let bi = bh / heads, h = bh % heads
          let q = base + bi * t * 3 * c + h * hs
          if fused {
            AttentionHeadKernel.forward(q: q, k: q + c, v: q + 2 * c, stride: 3 * c, length: t, headSize: hs,
                                        out: py + bi * t * c + h * hs, outStride: c,
                                        probabilities: pp.map { $0 + bh * perHead },
                                        packed: true, exactSoftmax: false)
          } else {
            headForward(q: q, k: q + c, v: q + 2 * c, stride: 3 * c, length: t, headSize: hs, rowBlock: blk,
                        out: py + bi * t * c + h * hs, outStride: c, probabilities: pp.map { $0 + bh * t * t },
                        scratch: scratch, exactSoftmax: false, fused: false)
          }
        }
      }
    }
    return y
  }

  /// Whether the scores of heads of at most `transposedKeysMaxHeadSize` take K's rows transposed once per head
  /// (Kᵀ [hs, T], a plain product Q·Kᵀ) rather than K's rows as they lie (a product with B transposed): the
  /// plain product takes OpenBLAS's small-matrix kernels where it has them, which the transposed one at head
  /// size 16 does not. One layer's attention forward at shakespeare_64x4 sizes took 7.8–8.7 against 8.9–9.7 ms
  /// with SkylakeX and 6.1 against 9.3 ms with Cooperlake; with the cores that lack them (Haswell, Zen,
  /// Prescott) it took 5% longer, for the copy, so those keep K's rows.
  public static let transposesKeys = ["SkylakeX", "Cooperlake"].contains(BLAS.coreName)

  /// The largest head size whose scores take Kᵀ (`transposesKeys`). Up to it, the two products give the same
  /// bits (checked at head sizes 8, 16 and 24 with SkylakeX and Cooperlake, where OpenBLAS 0.3.21 sums
  /// both in one chain per element); from 32 on, its small-matrix kernel sums in another order.
  public static let transposedKeysMaxHeadSize = 24

  /// Whether attention runs `AttentionHeadKernel`'s register-blocked loops (optimised builds) rather than the
  /// row blocks of sgemm calls (`headRows`, `headBackward`): the same products in another summation order,
  /// kept as the reference the fused loops are tested against and for debug builds, whose scalar loops would
  /// be slow.
  public static let fused = VectorMath.vectorized

  /// One head of one sequence on raw pointers, the forward every attention of the toolkit runs (the autograd
  /// node, inference, the attribution paths): out[i] = Σ_{j≤i} softmax_j(scale·q_i·k_j)·v_j, scale = 1/√hs,
  /// for `length` positions whose q, k and v rows are `stride` apart; out rows are `outStride` apart.
  /// Probabilities go to `probabilities` ([length, length], zero above the diagonal) when given.
  /// `exactSoftmax` takes `SoftmaxKernel.softmaxRow` (a Double sum, as the attribution paths do), otherwise
  /// `softmaxFiniteRow` (the model's). With `fused` the head runs `AttentionHeadKernel.forward`; otherwise
  /// rows are computed in sgemm blocks of `rowBlock` (keys beyond a block's last row are never touched),
  /// their probabilities in `scratch` ([rowBlock, length]) when none are kept.
  @inline(__always)
  public static func headForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride ld: Int,
                                 length t: Int, headSize hs: Int, rowBlock: Int, out: UnsafeMutablePointer<Float>,
                                 outStride ldo: Int, probabilities: UnsafeMutablePointer<Float>?,
                                 scratch: UnsafeMutablePointer<Float>?, exactSoftmax: Bool,
                                 fused: Bool = AttentionKernel.fused) {
    if fused {
      AttentionHeadKernel.forward(q: q, k: k, v: v, stride: ld, length: t, headSize: hs, out: out, outStride: ldo,
                                  probabilities: probabilities, exactSoftmax: exactSoftmax)
      return
    }
    blasHeadForward(q: q, k: k, v: v, stride: ld, length: t, headSize: hs, rowBlock: rowBlock, out: out, outStride: ldo,
                    probabilities: probabilities, scratch: scratch, exactSoftmax: exactSoftmax)
  }

  /// `headForward` in sgemm row blocks: the scores from Kᵀ where `transposesKeys`, else from K's rows.
  static func blasHeadForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride ld: Int,
                              length t: Int, headSize hs: Int, rowBlock: Int, out: UnsafeMutablePointer<Float>,
                              outStride ldo: Int, probabilities: UnsafeMutablePointer<Float>?,
                              scratch: UnsafeMutablePointer<Float>?, exactSoftmax: Bool) {
    guard transposesKeys && hs <= transposedKeysMaxHeadSize else {
      headRows(q: q, k: k, keysTransposed: nil, v: v, stride: ld, length: t, headSize: hs, rowBlock: rowBlock, out: out,
               outStride: ldo, probabilities: probabilities, scratch: scratch, exactSoftmax: exactSoftmax)
      return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: hs * t) { buffer in
      let kt = buffer.baseAddress!  // Kᵀ [hs, T]
      for j in 0..<t {
        let row = k + j * ld
        for d in 0..<hs { kt[d * t + j] = row[d] }
      }
      headRows(q: q, k: k, keysTransposed: kt, v: v, stride: ld, length: t, headSize: hs, rowBlock: rowBlock, out: out,
               outStride: ldo, probabilities: probabilities, scratch: scratch, exactSoftmax: exactSoftmax)
    }
  }

  /// `headForward`'s row blocks, the scores from K's rows or from Kᵀ [hs, T] when given.
  @inline(__always)
  static func headRows(q: UnsafePointer<Float>, k: UnsafePointer<Float>, keysTransposed kt: UnsafePointer<Float>?,
                       v: UnsafePointer<Float>, stride ld: Int, length t: Int, headSize hs: Int, rowBlock: Int,
                       out: UnsafeMutablePointer<Float>, outStride ldo: Int, probabilities: UnsafeMutablePointer<Float>?,
                       scratch: UnsafeMutablePointer<Float>?, exactSoftmax: Bool) {
    let scale = 1 / Float(hs).squareRoot()
    let blk = Swift.max(1, Swift.min(rowBlock, t))
    var r0 = 0
    while r0 < t {
      let r1 = Swift.min(t, r0 + blk)
      // Rows r0..<r1 of this head's probabilities.
      let p = probabilities.map { $0 + r0 * t } ?? scratch!
      // S[r0..<r1, 0..<r1] = scale · Q[r0..<r1] · K[0..<r1]ᵀ
      if let kt {
        BLAS.sgemmSerial(transposeA: false, transposeB: false, m: r1 - r0, n: r1, k: hs, alpha: scale,
                         a: q + r0 * ld, lda: ld, b: kt, ldb: t, c: p, ldc: t)
      } else {
        BLAS.sgemmSerial(transposeA: false, transposeB: true, m: r1 - r0, n: r1, k: hs, alpha: scale,
                         a: q + r0 * ld, lda: ld, b: k, ldb: ld, c: p, ldc: t)
      }
      for row in r0..<r1 {
        let pr = p + (row - r0) * t
        if exactSoftmax { SoftmaxKernel.softmaxRow(pr, pr, row + 1) } else { SoftmaxKernel.softmaxFiniteRow(pr, pr, row + 1) }
        // P·V reads columns up to r1; the full matrix is zeroed to T.
        let end = probabilities == nil ? r1 : t
        if row + 1 < end { (pr + row + 1).update(repeating: 0, count: end - row - 1) }
      }
      // Y[r0..<r1] = P[r0..<r1, 0..<r1] · V[0..<r1]
      BLAS.sgemmSerial(transposeA: false, transposeB: false, m: r1 - r0, n: hs, k: r1,
                       a: p, lda: t, b: v, ldb: ld, c: out + r0 * ldo, ldc: ldo)
      r0 = r1
    }
  }

  /// dqkv [B, T, 3C] from dy [B, T, C], through `AttentionHeadKernel.backward` (`fused`) or `headBackward`'s
  /// sgemm row blocks; any `rowBlock` works with any forward blocking (it only applies without `fused`).
  /// `fused` must be the forward's: it names the layout of `cache.probabilities`. `wholeSequences` as in
  /// `forward` (either works with either forward).
  public static func backward(_ dy: Tensor, qkv: Tensor, heads: Int, cache: Cache, rowBlock: Int = AttentionKernel.rowBlock,
                              fused: Bool = AttentionKernel.fused, wholeSequences: Bool? = nil) -> Tensor {
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3
    precondition(dy.shape == [b, t, c], "attention backward: gradient \(dy.shape) does not match output [\(b), \(t), \(c)]")
    let perHead = fused ? AttentionHeadKernel.packedCount(t) : t * t  // a head's probabilities
    let expected = fused ? [b, heads, perHead] : [b, heads, t, t]
    precondition(cache.probabilities.shape == expected, "attention backward: probabilities \(cache.probabilities.shape) do not match \(expected) (fused \(fused))")
    let hs = c / heads
    var dqkv = Tensor(uninitialized: qkv.shape)  // every element is written by either path
    let pd = dqkv.unsafeMutablePointer()
    let blk = Swift.max(1, Swift.min(rowBlock, t))
    withExtendedLifetime((qkv, dy, cache.probabilities)) {
      let base = qkv.unsafePointer, pdy = dy.unsafePointer, pp = cache.probabilities.unsafePointer
      if fused && (wholeSequences ?? copiesSequences(batch: b, length: t, channels: c)) {
        Parallel.forRanges(b, grain: 1) { range in
          let local = UnsafeMutablePointer<Float>.allocate(capacity: t * 7 * c)
          defer { local.deallocate() }
          // The sequence's qkv [T, 3C], dy [T, C] and dqkv [T, 3C].
          let lq = local, lg = local + t * 3 * c, ld = lg + t * c
          for bi in range {
            lq.update(from: base + bi * t * 3 * c, count: t * 3 * c)
            lg.update(from: pdy + bi * t * c, count: t * c)
            let hasNext = bi + 1 < range.upperBound
            for h in 0..<heads {
              // While a head computes it fetches the next head's probabilities (the next sequence's first head's
              // after the last) and its share of the next sequence's qkv and dy.
              var ahead = PrefetchRanges()
              if h + 1 < heads || hasNext { ahead.add(pp + (bi * heads + h + 1) * perHead, bytes: perHead * 4) }
              if hasNext {
                ahead.add(base + (bi + 1) * t * 3 * c, bytes: t * 3 * c * 4, share: h, of: heads)
                ahead.add(pdy + (bi + 1) * t * c, bytes: t * c * 4, share: h, of: heads)
              }
              let q = lq + h * hs, dq = ld + h * hs
              AttentionHeadKernel.backward(q: q, k: q + c, v: q + 2 * c, stride: 3 * c, dy: lg + h * hs, gradientStride: c,
                                           probabilities: pp + (bi * heads + h) * perHead,
                                           length: t, headSize: hs, dq: dq, dk: dq + c, dv: dq + 2 * c, prefetch: ahead)
            }
            StreamingStore.copy(ld, to: pd + bi * t * 3 * c, count: t * 3 * c)
          }
          StreamingStore.fence()
        }
        return
      }
      Parallel.forRanges(b * heads, grain: 1) { range in
        let dp = fused ? nil : UnsafeMutablePointer<Float>.allocate(capacity: t * t)
        defer { dp?.deallocate() }
        for bh in range {
          let bi = bh / heads, h = bh % heads
          let q = base + bi * t * 3 * c + h * hs
          let dq = pd + bi * t * 3 * c + h * hs
          let p = pp + bh * perHead
          let g = pdy + bi * t * c + h * hs
          if let dp {
            headBackward(q: q, dy: g, probabilities: p, length: t, headSize: hs, c: c, rowBlock: blk, dq: dq, scratch: dp)
          } else {
            AttentionHeadKernel.backward(q: q, k: q + c, v: q + 2 * c, stride: 3 * c, dy: g, gradientStride: c, probabilities: p,
                                         length: t, headSize: hs, dq: dq, dk: dq + c, dv: dq + 2 * c)
          }
        }
      }
    }
    return dqkv
  }

  /// One head's backward in sgemm row blocks of `blk` query rows, last to first (the last block, keys 0..<T,
  /// initialises dK and dV); q, dq of the packed [T, 3C] layout, dy rows `c` apart, scratch [T, T].
  static func headBackward(q: UnsafePointer<Float>, dy g: UnsafePointer<Float>, probabilities p: UnsafePointer<Float>,
                           length t: Int, headSize hs: Int, c: Int, rowBlock blk: Int, dq: UnsafeMutablePointer<Float>,
                           scratch dp: UnsafeMutablePointer<Float>) {
    let scale = 1 / Float(hs).squareRoot()
    let k = q + c, v = q + 2 * c, dk = dq + c, dv = dq + 2 * c
    var r0 = ((t - 1) / blk) * blk
    while r0 >= 0 {
      let r1 = Swift.min(t, r0 + blk), m = r1 - r0
      let accumulate: Float = r1 == t ? 0 : 1
      // dP = dY · Vᵀ   [m, r1]
      BLAS.sgemmSerial(transposeA: false, transposeB: true, m: m, n: r1, k: hs,
                       a: g + r0 * c, lda: c, b: v, ldb: 3 * c, c: dp, ldc: r1)
      // dV[0..<r1] += Pᵀ · dY
      BLAS.sgemmSerial(transposeA: true, transposeB: false, m: r1, n: hs, k: m,
                       a: p + r0 * t, lda: t, b: g + r0 * c, ldb: c, beta: accumulate, c: dv, ldc: 3 * c)
      // dS = P ⊙ (dP − Σ_j P·dP), causal entries only
      for i in 0..<m {
        let row = r0 + i
        let pr = p + row * t, dr = dp + i * r1
        let dot = VectorMath.dot(pr, dr, row + 1)
        for j in 0...row { dr[j] = pr[j] * (dr[j] - dot) }
        if row + 1 < r1 { (dr + row + 1).update(repeating: 0, count: r1 - row - 1) }
      }
      // dQ[r0..<r1] = scale · dS · K[0..<r1]
      BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: hs, k: r1, alpha: scale,
                       a: dp, lda: r1, b: k, ldb: 3 * c, c: dq + r0 * 3 * c, ldc: 3 * c)
      // dK[0..<r1] += scale · dSᵀ · Q[r0..<r1]
      BLAS.sgemmSerial(transposeA: true, transposeB: false, m: r1, n: hs, k: m, alpha: scale,
                       a: dp, lda: r1, b: q + r0 * 3 * c, ldb: 3 * c, beta: accumulate, c: dk, ldc: 3 * c)
      r0 -= blk
    }
  }

  /// Plain reference forward in Double (loops, no BLAS).
  public static func referenceForward(_ qkv: Tensor, heads: Int) -> Tensor {
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, hs = c / heads
    let x = qkv.scalars
    var y = [Float](repeating: 0, count: b * t * c)
    let scale = 1 / Double(hs).squareRoot()
    for bi in 0..<b {
      for h in 0..<heads {
        for i in 0..<t {
          var s = [Double](repeating: 0, count: i + 1)
          for j in 0...i {
            var d = 0.0
            for e in 0..<hs { d += Double(x[(bi * t + i) * 3 * c + h * hs + e]) * Double(x[(bi * t + j) * 3 * c + c + h * hs + e]) }
            s[j] = d * scale
          }
          let m = s.max()!
          let ex = s.map { Foundation.exp($0 - m) }
          let z = ex.reduce(0, +)
          for e in 0..<hs {
            var acc = 0.0
            for j in 0...i { acc += ex[j] / z * Double(x[(bi * t + j) * 3 * c + 2 * c + h * hs + e]) }
            y[(bi * t + i) * c + h * hs + e] = Float(acc)
          }
        }
      }
    }
    return Tensor(shape: [b, t, c], scalars: y)
  }
}
