/// Causal attention of one head of one sequence, forward and backward, as register-blocked loops over rows
/// addressed by pointer: the scores, probabilities and head outputs of a block of query rows stay in cache
/// between the products, and no product goes through BLAS (at head size 16 and 128 positions each is a
/// 4 × 128 × 16 product, far below the sizes sgemm's packing pays for).
///
/// One loop, `weightedSums` (out[r] = Σ_i w[r, i] · x[i], four rows of weights sharing each row of x), does
/// all six products:
/// - scores Q·Kᵀ and dP = dY·Vᵀ (`products`): vector lanes run over keys, each lane summing its head-size
///   terms in order from a transposed copy of K or V;
/// - P·V, dQ = dS·K, dK = dSᵀ·Q and dV = Pᵀ·dY: vector lanes run over the head dimension, each lane summing
///   its terms in key (or query) order.
/// Each lane takes one multiply and one add per term, so the vector width never changes a bit: every build
/// (baseline SSE, AVX2, AVX-512) and the scalar loops of debug builds give the same results.
enum AttentionHeadKernel {
  typealias L = SIMD16<Float>

  /// Query rows per block: the rows whose scores share each load of Kᵀ and whose weights share each row of V.
  static let rowBlock = 4

  /// Where the block of rows from i0 on starts in the block-packed probabilities: blocks of `rowBlock` query
  /// rows one after another, block rows i0..<i0 + m stored as [m, i0 + m] (the keys they see, zeros above the
  /// diagonal). The lower triangle and the blocks' diagonal corners: about half of [t, t].
  @inline(__always) static func packedOffset(_ i0: Int) -> Int {
    let b = i0 / rowBlock
    return rowBlock * rowBlock * b * (b + 1) / 2
  }

  /// Floats in one head's block-packed probabilities of `t` positions.
  public static func packedCount(_ t: Int) -> Int {
    let full = t / rowBlock
    return packedOffset(full * rowBlock) + (t - full * rowBlock) * t
  }

  /// Rows i0..<i0 + m of [t, t] (rows `t` apart) = the block from i0 on of one head's block-packed
  /// probabilities: each row's first i0 + m entries; the rest of the rows is left alone.
  @inline(__always)
  static func unpackBlock(_ packed: UnsafePointer<Float>, from i0: Int, length t: Int, into p: UnsafeMutablePointer<Float>) {
    let m = Swift.min(rowBlock, t - i0), n = i0 + m, block = packed + packedOffset(i0)
    for r in 0..<m { (p + (i0 + r) * t).update(from: block + r * n, count: n) }
  }

  @inline(__always) static func max(_ a: L, _ b: L) -> L { a.replacing(with: b, where: a .< b) }

  /// Positions rounded up to whole 16-lane vectors: the row length of the transposed keys and values.
  @inline(__always) static func padded(_ t: Int) -> Int { (t + 15) & ~15 }

  @inline(__always) static func load<V: SIMD>(_ p: UnsafePointer<Float>, as _: V.Type = V.self) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) static func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
  }

  /// packed [t, hs] = the `t` rows of x (`stride` apart, `hs` values each). A head's rows lie on separate
  /// cache lines of the packed [B, T, 3C] projections; copying them first, in a loop this short, keeps many
  /// of their loads from memory in flight at once (the products' loops would wait for each in turn).
  @inline(__always)
  static func gather(_ x: UnsafePointer<Float>, stride ld: Int, length t: Int, headSize hs: Int,
                     into packed: UnsafeMutablePointer<Float>) {
    for j in 0..<t {
      let src = x + j * ld, dst = packed + j * hs
      var e = 0
      while VectorMath.vectorized && e + 16 <= hs { store(load(src + e) as L, dst + e); e += 16 }
      while e < hs { dst[e] = src[e]; e += 1 }
    }
  }

  /// Q, K and V [t, hs] one after another from `packed` on: the head's rows copied out of the projections.
  @inline(__always)
  static func gatherHead(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride ld: Int,
                         length t: Int, headSize hs: Int, into packed: UnsafeMutablePointer<Float>) {
    gather(q, stride: ld, length: t, headSize: hs, into: packed)
    gather(k, stride: ld, length: t, headSize: hs, into: packed + t * hs)
    gather(v, stride: ld, length: t, headSize: hs, into: packed + 2 * t * hs)
  }

  /// xt [hs, tp] = packed [t, hs] transposed, zero in columns t..<tp.
  @inline(__always)
  static func transpose(_ packed: UnsafePointer<Float>, length t: Int, headSize hs: Int,
                        into xt: UnsafeMutablePointer<Float>, padded tp: Int) {
    var src = packed
    for j in 0..<t {
      var dst = xt + j
      for d in 0..<hs { dst.pointee = src[d]; dst += tp }
      src += hs
    }
    if tp > t { for d in 0..<hs { (xt + (d &* tp &+ t)).update(repeating: 0, count: tp &- t) } }
  }

  /// s[r, j] = alpha · Σ_d a[r, d] · bt[d, j] for r < m, j < n (n a multiple of 16): rows of a `lda` apart,
  /// bt [hs, tp], rows of s `tp` apart. Each entry sums its hs terms in order: `weightedSums` with the rows
  /// of a as weights and the rows of bt as the summed rows.
  @inline(__always)
  static func products(_ a: UnsafePointer<Float>, lda: Int, rows m: Int, _ bt: UnsafePointer<Float>, padded tp: Int,
                       depth hs: Int, columns n: Int, alpha: Float, into s: UnsafeMutablePointer<Float>) {
    weightedSums(a, rowStride: lda, termStride: 1, rows: m, terms: hs, bt, ldx: tp, width: n, alpha: alpha, into: s, ldo: tp)
  }

  /// out[r, e] = alpha · Σ_{i<n} w[r·wr + i·wi] · x[i, e] for r < m, e < hs: rows of x `ldx` apart, rows of
  /// out `ldo` apart. Each entry sums its n terms in order.
  @inline(__always)
  static func weightedSums(_ w: UnsafePointer<Float>, rowStride wr: Int, termStride wi: Int, rows m: Int, terms n: Int,
                           _ x: UnsafePointer<Float>, ldx: Int, width hs: Int, alpha: Float,
                           into out: UnsafeMutablePointer<Float>, ldo: Int) {
    var e = 0
    if VectorMath.vectorized {
      while e + 16 <= hs { weightedSumLanes(SIMD16<Float>.self, w, wr, wi, m, n, x + e, ldx, alpha, out + e, ldo); e += 16 }
      while e + 8 <= hs { weightedSumLanes(SIMD8<Float>.self, w, wr, wi, m, n, x + e, ldx, alpha, out + e, ldo); e += 8 }
    }
    while e < hs {
      for r in 0..<m {
        var c: Float = 0
        for i in 0..<n { c += w[r * wr + i * wi] * x[i * ldx + e] }
        out[r * ldo + e] = c * alpha
      }
      e += 1
    }
  }

  /// `weightedSums` for one vector of columns of x, four rows of weights at a time.
  @inline(__always)
  static func weightedSumLanes<V: SIMD>(_: V.Type, _ w: UnsafePointer<Float>, _ wr: Int, _ wi: Int, _ m: Int, _ n: Int,
                                        _ x: UnsafePointer<Float>, _ ldx: Int, _ alpha: Float,
                                        _ out: UnsafeMutablePointer<Float>, _ ldo: Int) where V.Scalar == Float {
    var r = 0
    while r + 4 <= m {
      let w0 = w + r * wr, w1 = w0 + wr, w2 = w1 + wr, w3 = w2 + wr
      var c0 = V(), c1 = V(), c2 = V(), c3 = V()
      var xi = x, o = 0
      for _ in 0..<n {
        let v: V = load(xi)
        c0 += V(repeating: w0[o]) * v
        c1 += V(repeating: w1[o]) * v
        c2 += V(repeating: w2[o]) * v
        c3 += V(repeating: w3[o]) * v
        xi += ldx
        o += wi
      }
      let or = out + r * ldo
      store(c0 * alpha, or)
      store(c1 * alpha, or + ldo)
      store(c2 * alpha, or + 2 * ldo)
      store(c3 * alpha, or + 3 * ldo)
      r += 4
    }
    while r < m {
      let wrow = w + r * wr
      var c = V()
      for i in 0..<n { c += V(repeating: wrow[i * wi]) * load(x + i * ldx) }
      store(c * alpha, out + r * ldo)
      r += 1
    }
  }

  /// Row r < m (at most 4) of p (rows `lp` apart) = softmax of the first n0 + r scores of row r of s (rows
  /// `tp` apart, each with `padded(n0 + m − 1)` readable values), then zeros up to `end`. Per row: the maximum
  /// and the sum over 16 lanes (the sum reduced by halves), exponentials by `VectorMath.expSaturating` (the
  /// scores are finite), kept in s. Each step runs for all rows before the next, so that the rows' dependent
  /// chains overlap.
  @inline(__always)
  static func softmaxRows(_ s: UnsafeMutablePointer<Float>, padded tp: Int, rows m: Int, firstLength n0: Int,
                          into p: UnsafeMutablePointer<Float>, stride lp: Int, zeroTo end: Int) {
    var maxima = SIMD4<Float>(repeating: -.infinity), totals = SIMD4<Float>()
    let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    for r in 0..<m {
      let sr = s + r * tp, n = n0 + r
      if VectorMath.vectorized {
        let last = (n - 1) & ~15, tail = lanes .>= SIMD16<Int32>(repeating: Int32(n - last))
        var mv = (load(sr + last) as L).replacing(with: -.infinity, where: tail), j = 0
        while j < last { mv = max(mv, load(sr + j)); j += 16 }
        maxima[r] = VectorMath.horizontalMax(VectorMath.max(mv.lowHalf, mv.highHalf))
      } else {
        for j in 0..<n { maxima[r] = Swift.max(maxima[r], sr[j]) }
      }
    }
    for r in 0..<m {
      let sr = s + r * tp, n = n0 + r
      var acc = L()
      if VectorMath.vectorized {
        let last = (n - 1) & ~15, tail = lanes .>= SIMD16<Int32>(repeating: Int32(n - last))
        let mm = L(repeating: maxima[r])
        var j = 0
        while j <= last {
          var x: L = load(sr + j) - mm
          x = L(lowHalf: VectorMath.expSaturating(x.lowHalf), highHalf: VectorMath.expSaturating(x.highHalf))
          if j == last { x = x.replacing(with: 0, where: tail) }
          store(x, sr + j)
          acc += x
          j += 16
        }
      } else {
        for j in 0..<n {
          sr[j] = VectorMath.expSaturating(SIMD8<Float>(repeating: sr[j] - maxima[r]))[0]
          acc[j & 15] += sr[j]
        }
      }
      let a8 = acc.lowHalf + acc.highHalf, a4 = a8.lowHalf + a8.highHalf, a2 = a4.lowHalf + a4.highHalf
      totals[r] = a2[0] + a2[1]
    }
    // p = e · (1 / total); the exponentials' last vector holds zeros past n, so whole vectors of it are
    // stored as they come, and zeros up to `end`.
    let inverses = 1 / totals
    for r in 0..<m {
      let sr = s + r * tp, pr = p + r * lp, n = n0 + r
      let inv = inverses[r], vi = L(repeating: inv)
      var j = 0
      if VectorMath.vectorized {
        let scaled = Swift.min(padded(n), end)
        while j + 16 <= scaled { store(load(sr + j) * vi, pr + j); j += 16 }
        while j + 16 <= end { store(L(), pr + j); j += 16 }
      }
      while j < n { pr[j] = sr[j] * inv; j += 1 }
      while j < end { pr[j] = 0; j += 1 }
    }
  }

  /// One head's forward: out[i] = Σ_{j≤i} softmax_j(scale·q_i·k_j)·v_j, scale = 1/√hs, for `t` positions whose
  /// q, k and v rows are `ld` apart; out rows `ldo` apart. Probabilities go to `probabilities` when given:
  /// [t, t] (zero above the diagonal), or block-packed (`packedOffset`, `packedCount`) with `packed`. The
  /// layout changes no bit of out. `exactSoftmax` takes `SoftmaxKernel.softmaxRow` (a Double sum), otherwise
  /// `softmaxRows`. With `streamProbabilities` (block-packed only) each block's probabilities are computed in
  /// cache and streamed to `probabilities` (`StreamingStore`, the same values); the caller fences. `prefetch`
  /// is fetched a share per block of query rows.
  static func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride ld: Int,
                      length t: Int, headSize hs: Int, out: UnsafeMutablePointer<Float>, outStride ldo: Int,
                      probabilities: UnsafeMutablePointer<Float>?, packed: Bool = false, exactSoftmax: Bool,
                      streamProbabilities: Bool = false, prefetch: PrefetchRanges = PrefetchRanges()) {
    let tp = padded(t), blk = rowBlock
    let scale = 1 / Float(hs).squareRoot()
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * t * hs + hs * tp + 2 * blk * tp) { buffer in
      let qp = buffer.baseAddress!       // Q [t, hs]
      let kp = qp + t * hs               // K [t, hs]
      let vp = kp + t * hs               // V [t, hs]
      let kt = vp + t * hs               // Kᵀ [hs, tp]
      let s = kt + hs * tp               // scores of the block's rows [blk, tp]
      let scratch = s + blk * tp         // their probabilities when none are kept or they are streamed [blk, tp]
      gatherHead(q: q, k: k, v: v, stride: ld, length: t, headSize: hs, into: qp)
      transpose(kp, length: t, headSize: hs, into: kt, padded: tp)
      let streamed = streamProbabilities && packed ? probabilities : nil
      let steps = (t + blk - 1) / blk
      var i0 = 0
      while i0 < t {
        let m = Swift.min(blk, t - i0), n = i0 + m  // rows i0..<n attend to keys 0..<n
        prefetch.issue(step: i0 / blk, of: steps)
        products(qp + i0 * hs, lda: hs, rows: m, kt, padded: tp, depth: hs, columns: padded(n), alpha: scale, into: s)
        let (p, lp) = streamed != nil ? (scratch, n)
          : probabilities.map { packed ? ($0 + packedOffset(i0), n) : ($0 + i0 * t, t) } ?? (scratch, tp)
        let end = probabilities == nil || packed ? n : t
        if exactSoftmax {
          for r in 0..<m {
            let row = i0 + r, pr = p + r * lp
            SoftmaxKernel.softmaxRow(s + r * tp, pr, row + 1)
            if row + 1 < end { (pr + row + 1).update(repeating: 0, count: end - row - 1) }
          }
        } else {
          softmaxRows(s, padded: tp, rows: m, firstLength: i0 + 1, into: p, stride: lp, zeroTo: end)
        }
        weightedSums(p, rowStride: lp, termStride: 1, rows: m, terms: n, vp, ldx: hs, width: hs, alpha: 1,
                     into: out + i0 * ldo, ldo: ldo)
        if let streamed { StreamingStore.copy(p, to: streamed + packedOffset(i0), count: m * n) }
        i0 = n
      }
    }
  }

  /// One head's backward from its block-packed probabilities (as `forward` writes them with `packed`) and the
  /// head output's gradient dy (rows `gStride` apart): dq, dk, dv (rows `ld` apart, like q, k, v) are written
  /// in full. `prefetch` is fetched a share per block of query rows.
  static func backward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride ld: Int,
                       dy g: UnsafePointer<Float>, gradientStride gs: Int, probabilities packedP: UnsafePointer<Float>,
                       length t: Int, headSize hs: Int, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                       dv: UnsafeMutablePointer<Float>, prefetch: PrefetchRanges = PrefetchRanges()) {
    let tp = padded(t), blk = rowBlock
    let scale = 1 / Float(hs).squareRoot()
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * t * hs + hs * tp + blk * tp + 2 * t * t) { buffer in
      let qp = buffer.baseAddress!       // Q [t, hs]
      let kp = qp + t * hs               // K [t, hs]
      let vp = kp + t * hs               // V [t, hs]
      let gp = vp + t * hs               // dY [t, hs]
      let vt = gp + t * hs               // Vᵀ [hs, tp]
      let dp = vt + hs * tp              // dP of the block's rows [blk, tp]
      let ds = dp + blk * tp             // dS [t, t], zero above the diagonal
      let p = ds + t * t                 // P [t, t]: row i holds its block's keys (zeros above the diagonal)
      gatherHead(q: q, k: k, v: v, stride: ld, length: t, headSize: hs, into: qp)
      gather(g, stride: gs, length: t, headSize: hs, into: gp)
      transpose(vp, length: t, headSize: hs, into: vt, padded: tp)
      let steps = (t + blk - 1) / blk
      var i0 = 0
      while i0 < t {
        let m = Swift.min(blk, t - i0), n = i0 + m
        prefetch.issue(step: i0 / blk, of: steps)
        // The block's rows of P, unpacked; dV below reads no entry past them.
        unpackBlock(packedP, from: i0, length: t, into: p)
        // dP = dY · Vᵀ
        products(gp + i0 * hs, lda: hs, rows: m, vt, padded: tp, depth: hs, columns: padded(n), alpha: 1, into: dp)
        // dS = P ⊙ (dP − Σ_j P·dP), causal entries only
        for r in 0..<m {
          let row = i0 + r, pr = p + row * t, dr = dp + r * tp, sr = ds + row * t
          let dot = VectorMath.dot(pr, dr, row + 1)
          var j = 0
          let vd = L(repeating: dot)
          while VectorMath.vectorized && j + 16 <= row + 1 {
            store(load(pr + j) * (load(dr + j) - vd), sr + j)
            j += 16
          }
          while j <= row { sr[j] = pr[j] * (dr[j] - dot); j += 1 }
          if row + 1 < t { (sr + row + 1).update(repeating: 0, count: t - row - 1) }
        }
        // dQ = scale · dS · K
        weightedSums(ds + i0 * t, rowStride: t, termStride: 1, rows: m, terms: n, kp, ldx: hs, width: hs, alpha: scale,
                     into: dq + i0 * ld, ldo: ld)
        i0 = n
      }
      // dK = scale · dSᵀ · Q and dV = Pᵀ · dY, keys j0..<j0 + m over the queries j0..<t that see them.
      var j0 = 0
      while j0 < t {
        let m = Swift.min(blk, t - j0)
        weightedSums(ds + j0 * t + j0, rowStride: 1, termStride: t, rows: m, terms: t - j0, qp + j0 * hs, ldx: hs,
                     width: hs, alpha: scale, into: dk + j0 * ld, ldo: ld)
        weightedSums(p + j0 * t + j0, rowStride: 1, termStride: t, rows: m, terms: t - j0, gp + j0 * hs, ldx: hs,
                     width: hs, alpha: 1, into: dv + j0 * ld, ldo: ld)
        j0 += m
      }
    }
  }
}
