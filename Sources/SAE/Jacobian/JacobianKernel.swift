import Foundation
import Tensor

/// The per-token sparse Jacobians between the active features of an SAE pair, J_t = A_t · B_tᵀ, their L1
/// sum, and — in the same pass — the gradients of that sum with respect to the matrices the rows of A_t
/// and B_t are gathered from.
///
/// Rows have width W = H (FF layer) or H + C (FF block, whose skip path is the extra C columns):
/// - output side: A_t[a] = P[out_a], P = [W_enc_outᵀ · W_cproj | W_enc_outᵀ] [F_out, W];
/// - input side: B_t[b] = [MLP part (by `InputSide`) | W_dec_in[in_b]] [k_in, W], so that A_t · B_tᵀ is the
///   MLP part plus, for the block, the skip part W_enc_out[:, out_a] · W_dec_in[in_b].
/// Each token costs three k×k×W products (`JacobianMicroKernels`, reading the rows of P in place) plus
/// gathers and scatters of W-long rows; no F×F, C×C or H×H matrix is formed per token.
struct JacobianKernel {
  /// How the MLP part (first H columns) of the input-side rows B_t[b] is formed.
  enum InputSide {
    /// g_t ⊙ Q[in_b] (the FF layer; an FF block without normalisation). Q [F_in, H].
    case projected(q: Tensor)
    /// Through ln_2 (LayerNorm): with gr = g_t·rstd_t,
    /// gr ⊙ (Q[in_b] − (u[in_b]/C)·r1 − (v_tb/C)·r2_t), v_tb = x̂_t · W_dec[in_b];
    /// Q = W_dec · (W_cfc·diag(w))ᵀ [F_in, H], u = row sums of W_dec [F_in], r1 = W_cfc·w [H],
    /// r2 = x̂ · (W_cfc·diag(w))ᵀ [N, H], x̂ [N, C], rstd [N].
    case layerNorm(q: Tensor, rowSums: Tensor, xHat: Tensor, rstd: Tensor, r1: Tensor, r2: Tensor)
    /// Through an elementwise norm with derivative d_t [N, C] (DynamicTanh): g_t ⊙ (W_cfc · (d_t ⊙ W_dec[in_b])),
    /// wFc [H, C]; computed for blocks of tokens with one sgemm.
    case diagonal(wFc: Tensor, d: Tensor)
  }

  /// What one run returns. Gradients are of Σ_t Σ_ab |J_t[a, b]| · `scale`.
  struct Result {
    /// Σ_t Σ_ab |J_t[a, b]| · scale.
    var total: Double
    /// J_t for every token, [N, k_out, k_in] (when asked for).
    var jacobians: Tensor?
    /// ∂/∂P, [F_out, W].
    var dP: Tensor?
    /// ∂/∂Q, [F_in, H] (projected, layerNorm).
    var dQ: Tensor?
    /// The part of ∂/∂W_dec_in that does not pass through Q, [F_in, C] (layerNorm, diagonal, skip).
    var dDecDirect: Tensor?
  }

  let tokens: Int
  let kIn: Int
  let kOut: Int
  /// Hidden width H = 4C.
  let hidden: Int
  /// top-k indices of the input SAE, [N · k_in].
  let inIndices: [Int32]
  /// top-k indices of the output SAE, [N · k_out].
  let outIndices: [Int32]
  /// gelu′ at the clean c_fc output, [N, H].
  let g: Tensor
  /// P, [F_out, W].
  let p: Tensor
  /// W_dec of the input SAE, [F_in, C] (used by layerNorm, diagonal and the skip path).
  let wDec: Tensor
  let input: InputSide
  /// Whether rows carry the skip path (FF block).
  let skip: Bool
  /// Factor applied to Σ|J| (1/k_in²).
  let scale: Float

  /// Token chunks with their own gradient accumulators (at most; fewer below 64 tokens per chunk), shared out
  /// over the threads.
  static let partitions = 8

  /// Tokens per block (the unit of the diagonal mode's sgemm).
  static let tokenBlock = 32

  var embedding: Int { wDec.shape[1] }
  var width: Int { hidden + (skip ? embedding : 0) }
  var featuresIn: Int { wDec.shape[0] }
  var featuresOut: Int { p.shape[0] }

  var hasQ: Bool {
    if case .diagonal = input { return false }
    return true
  }

  var hasDirect: Bool {
    if case .projected = input { return skip }
    return true
  }

  /// Runs every token; `gradients` adds the gradient accumulators, `keepJacobians` the per-token J.
  func run(gradients: Bool, keepJacobians: Bool) -> Result {
    let n = tokens, h = hidden, w = width, c = embedding, fIn = featuresIn, fOut = featuresOut
    precondition(g.shape == [n, h] && p.shape == [fOut, w], "Jacobian kernel: g \(g.shape), P \(p.shape) for \(n) tokens, H \(h), W \(w)")
    precondition(inIndices.count == n * kIn && outIndices.count == n * kOut,
                 "Jacobian kernel: \(inIndices.count) input / \(outIndices.count) output indices for \(n) tokens, k \(kIn)/\(kOut)")
    precondition(inIndices.allSatisfy { $0 >= 0 && Int($0) < fIn } && outIndices.allSatisfy { $0 >= 0 && Int($0) < fOut },
                 "Jacobian kernel: feature index out of range (F_in \(fIn), F_out \(fOut))")
    switch input {
    case .projected(let q), .layerNorm(let q, _, _, _, _, _):
      precondition(q.shape == [fIn, h], "Jacobian kernel: Q \(q.shape) vs [\(fIn), \(h)]")
    case .diagonal(let wFc, let d):
      precondition(wFc.shape == [h, c] && d.shape == [n, c], "Jacobian kernel: W_cfc \(wFc.shape), d \(d.shape)")
    }

    // A fixed number of token chunks, independent of the thread count, so that the partial sums (and with them
    // every gradient bit) are the same on 1, 2, 4 or 8 cores: a run resumed on another machine continues exactly.
    let chunks = Swift.min(Self.partitions, Swift.max(1, n / 64))
    let withQ = gradients && hasQ, withDirect = gradients && hasDirect
    // Per-chunk gradient accumulators, summed into chunk 0 afterwards.
    var dP = Tensor(zeros: gradients ? [chunks, fOut, w] : [1])
    var dQ = Tensor(zeros: withQ ? [chunks, fIn, h] : [1])
    var dDirect = Tensor(zeros: withDirect ? [chunks, fIn, c] : [1])
    var jac = Tensor(zeros: keepJacobians ? [n, kOut, kIn] : [1])
    var totals = [Double](repeating: 0, count: chunks)
    let pdP = dP.unsafeMutablePointer(), pdQ = dQ.unsafeMutablePointer(), pdDirect = dDirect.unsafeMutablePointer()
    let pJac = jac.unsafeMutablePointer()
    withExtendedLifetime(self) {
      inIndices.withUnsafeBufferPointer { inBuf in
        outIndices.withUnsafeBufferPointer { outBuf in
          totals.withUnsafeMutableBufferPointer { tot in
            let totBase = tot.baseAddress!
            Parallel.forRanges(chunks, grain: 1) { cr in
              for chunk in cr {
                let acc = Accumulators(dP: gradients ? pdP + chunk * fOut * w : nil,
                                       dQ: withQ ? pdQ + chunk * fIn * h : nil,
                                       dDirect: withDirect ? pdDirect + chunk * fIn * c : nil)
                let worker = Worker(self, inIdx: inBuf.baseAddress!, outIdx: outBuf.baseAddress!, acc: acc,
                                    jacobians: keepJacobians ? pJac : nil)
                defer { worker.deallocate() }
                totBase[chunk] = worker.run(n * chunk / chunks ..< n * (chunk + 1) / chunks)
              }
            }
          }
        }
      }
    }
    // Sum the chunks' accumulators into chunk 0, in chunk order.
    func reduce(_ base: UnsafeMutablePointer<Float>, _ size: Int) {
      VectorMath.sumChunks(base, chunks: chunks, size: size, into: base)
    }
    func first(_ t: Tensor, _ shape: [Int]) -> Tensor {
      chunks == 1 ? t.reshaped(shape) : t.slice(axis: 0, 0..<1).reshaped(shape)
    }
    if gradients { reduce(pdP, fOut * w) }
    if withQ { reduce(pdQ, fIn * h) }
    if withDirect { reduce(pdDirect, fIn * c) }
    return Result(
      total: totals.reduce(0, +) * Double(scale),
      jacobians: keepJacobians ? jac : nil,
      dP: gradients ? first(dP, [fOut, w]) : nil,
      dQ: withQ ? first(dQ, [fIn, h]) : nil,
      dDecDirect: withDirect ? first(dDirect, [fIn, c]) : nil)
  }

  /// One chunk's gradient accumulators (nil when not computed).
  struct Accumulators {
    var dP: UnsafeMutablePointer<Float>?
    var dQ: UnsafeMutablePointer<Float>?
    var dDirect: UnsafeMutablePointer<Float>?
  }

  /// One thread's scratch buffers and loop over its tokens.
  struct Worker {
    let h: Int, w: Int, c: Int, kIn: Int, kOut: Int
    let skip: Bool, scale: Float
    let inIdx: UnsafePointer<Int32>, outIdx: UnsafePointer<Int32>
    let g: UnsafePointer<Float>, p: UnsafePointer<Float>, wDec: UnsafePointer<Float>
    /// The input side's mode and raw pointers (no per-token unpacking of tensors).
    enum Mode { case projected, layerNorm, diagonal }
    let mode: Mode
    let q: UnsafePointer<Float>?, rowSums: UnsafePointer<Float>?, xHat: UnsafePointer<Float>?, rstd: UnsafePointer<Float>?
    let r1: UnsafePointer<Float>?, r2: UnsafePointer<Float>?, wFc: UnsafePointer<Float>?, d: UnsafePointer<Float>?
    let acc: Accumulators
    let jacobians: UnsafeMutablePointer<Float>?

    let aRows: UnsafeMutablePointer<UnsafePointer<Float>>        // [k_out] rows of P (A_t)
    let bRows: UnsafeMutablePointer<UnsafePointer<Float>>        // [k_in] rows of B_t
    let outRows: UnsafeMutablePointer<UnsafeMutablePointer<Float>> // [max(k_out, k_in)] rows of dP or dB
    let coefficients: UnsafeMutablePointer<Float>                // [k_out · k_in] entries of S or Sᵀ, row by row
    let bBlock: UnsafeMutablePointer<Float> // [tokenBlock · k_in, W]
    let db: UnsafeMutablePointer<Float>     // [k_in, W]
    let j: UnsafeMutablePointer<Float>      // [k_out, k_in]
    let s: UnsafeMutablePointer<Float>      // [k_out, k_in]
    let gr: UnsafeMutablePointer<Float>     // [H]
    let y1: UnsafeMutablePointer<Float>     // [H]
    let y2: UnsafeMutablePointer<Float>     // [H]
    let xBlock: UnsafeMutablePointer<Float> // [tokenBlock · k_in, C]
    let zBlock: UnsafeMutablePointer<Float> // [tokenBlock · k_in, H] (diagonal backward)

    /// Pointers stay valid while the caller keeps `kernel` (and the index buffers) alive.
    init(_ kernel: JacobianKernel, inIdx: UnsafePointer<Int32>, outIdx: UnsafePointer<Int32>, acc: Accumulators,
         jacobians: UnsafeMutablePointer<Float>?) {
      h = kernel.hidden; w = kernel.width; c = kernel.embedding; kIn = kernel.kIn; kOut = kernel.kOut
      skip = kernel.skip; scale = kernel.scale
      self.inIdx = inIdx
      self.outIdx = outIdx
      g = kernel.g.unsafePointer; p = kernel.p.unsafePointer; wDec = kernel.wDec.unsafePointer
      switch kernel.input {
      case .projected(let q):
        mode = .projected
        self.q = q.unsafePointer
        (rowSums, xHat, rstd, r1, r2, wFc, d) = (nil, nil, nil, nil, nil, nil, nil)
      case .layerNorm(let q, let rowSums, let xHat, let rstd, let r1, let r2):
        mode = .layerNorm
        (self.q, self.rowSums, self.xHat, self.rstd) = (q.unsafePointer, rowSums.unsafePointer, xHat.unsafePointer, rstd.unsafePointer)
        (self.r1, self.r2, wFc, d) = (r1.unsafePointer, r2.unsafePointer, nil, nil)
      case .diagonal(let wFc, let d):
        mode = .diagonal
        (q, rowSums, xHat, rstd, r1, r2) = (nil, nil, nil, nil, nil, nil)
        (self.wFc, self.d) = (wFc.unsafePointer, d.unsafePointer)
      }
      self.acc = acc
      self.jacobians = jacobians
      let tb = JacobianKernel.tokenBlock
      aRows = .allocate(capacity: kOut)
      bRows = .allocate(capacity: kIn)
      outRows = .allocate(capacity: Swift.max(kOut, kIn))
      coefficients = .allocate(capacity: kOut * kIn)
      bBlock = .allocate(capacity: tb * kIn * w)
      db = .allocate(capacity: kIn * w)
      j = .allocate(capacity: kOut * kIn)
      s = .allocate(capacity: kOut * kIn)
      gr = .allocate(capacity: h)
      y1 = .allocate(capacity: h)
      y2 = .allocate(capacity: h)
      xBlock = .allocate(capacity: tb * kIn * c)
      zBlock = .allocate(capacity: tb * kIn * h)
    }

    func deallocate() {
      aRows.deallocate()
      bRows.deallocate()
      outRows.deallocate()
      coefficients.deallocate()
      for ptr in [bBlock, db, j, s, gr, y1, y2, xBlock, zBlock] { ptr.deallocate() }
    }

    /// Processes tokens `range`; returns Σ_t Σ_ab |J_t[a, b]| (unscaled).
    func run(_ range: Range<Int>) -> Double {
      var total = 0.0
      var start = range.lowerBound
      while start < range.upperBound {
        let end = Swift.min(range.upperBound, start + JacobianKernel.tokenBlock)
        if mode == .diagonal {
          // MLP parts of the whole block: (d_t ⊙ W_dec[in_b]) · W_cfcᵀ, one sgemm, into B's first H columns.
          let pd = d!
          for t in start..<end {
            for i in 0..<kIn {
              let row = (t - start) * kIn + i
              Self.multiply(wDec + Int(inIdx[t * kIn + i]) * c, pd + t * c, xBlock + row * c, c)
            }
          }
          BLAS.sgemmSerial(transposeA: false, transposeB: true, m: (end - start) * kIn, n: h, k: c, a: xBlock, lda: c,
                           b: wFc!, ldb: c, c: bBlock, ldc: w)
        }
        // The diagonal mode reads each token's rows from the block's sgemm output; the others build them per
        // token, in the same k_in × W rows every time, which stay in the core's first-level cache.
        let perToken = mode == .diagonal ? kIn * w : 0
        for t in start..<end { total += token(t, b: bBlock + (t - start) * perToken, blockRow: (t - start) * kIn) }
        if acc.dDirect != nil, mode == .diagonal {
          // dX = (g ⊙ dB_MLP) · W_cfc for the block; W_dec rows get d_t ⊙ dX.
          let rows = (end - start) * kIn
          BLAS.sgemmSerial(transposeA: false, transposeB: false, m: rows, n: c, k: h, a: zBlock, lda: h,
                           b: wFc!, ldb: c, c: xBlock, ldc: c)
          let pd = d!
          for t in start..<end {
            for i in 0..<kIn {
              Self.multiplyAdd(xBlock + ((t - start) * kIn + i) * c, pd + t * c, acc.dDirect! + Int(inIdx[t * kIn + i]) * c, c)
            }
          }
        }
        start = end
      }
      return total
    }

    /// Token t with its input-side rows at `b` ([k_in, W]; for the diagonal mode the MLP part is already
    /// there, unscaled by g); returns Σ_ab |J_t[a, b]|.
    func token(_ t: Int, b: UnsafeMutablePointer<Float>, blockRow: Int) -> Double {
      let gt = g + t * h
      let ins = inIdx + t * kIn, outs = outIdx + t * kOut
      // A_t = the output features' rows of P (read in place). B_t:
      switch mode {
      case .projected:
        let pq = q!
        for i in 0..<kIn { Self.multiply(pq + Int(ins[i]) * h, gt, b + i * w, h) }
      case .layerNorm:
        let pq = q!, pu = rowSums!
        let xr = xHat! + t * c, r2t = r2! + t * h, pr1 = r1!
        let rs = rstd![t], invC = 1 / Float(c)
        Self.layerNormScales(gt, rs, invC, pr1, r2t, gr, y1, y2, h)
        for i in 0..<kIn {
          let f = Int(ins[i])
          let v = Self.dot(xr, wDec + f * c, c)
          Self.layerNormRow(gr, pq + f * h, y1, y2, -pu[f], -v, b + i * w, h)
        }
      case .diagonal:
        for i in 0..<kIn { Self.multiply(b + i * w, gt, b + i * w, h) }
      }
      if skip {
        for i in 0..<kIn { (b + i * w + h).update(from: wDec + Int(ins[i]) * c, count: c) }
      }
      // J_t = A_t · B_tᵀ.
      for o in 0..<kOut { aRows[o] = p + Int(outs[o]) * w }
      for i in 0..<kIn { bRows[i] = UnsafePointer(b + i * w) }
      JacobianMicroKernels.abT(aRows, mOut: kOut, bRows, mIn: kIn, width: w, j)
      let sum = Self.absSum(j, kOut * kIn)
      if let jacobians { (jacobians + t * kOut * kIn).update(from: j, count: kOut * kIn) }
      guard let dP = acc.dP else { return Double(sum) }

      // ∂(scale · Σ|J|)/∂J = scale · sign(J) (0 at 0, as PyTorch's abs).
      for e in 0..<(kOut * kIn) { s[e] = j[e] > 0 ? scale : (j[e] < 0 ? -scale : 0) }
      // dA = S · B added into the rows of dP; dB = Sᵀ · A.
      for o in 0..<kOut { outRows[o] = dP + Int(outs[o]) * w }
      JacobianMicroKernels.combine(s, rowStep: kIn, step: 1, bRows, count: kIn, outRows, m: kOut, width: w, accumulate: true,
                                   coefficients: coefficients)
      for i in 0..<kIn { outRows[i] = db + i * w }
      JacobianMicroKernels.combine(s, rowStep: 1, step: kIn, aRows, count: kOut, outRows, m: kIn, width: w, accumulate: false,
                                   coefficients: coefficients)
      if skip {
        let dDirect = acc.dDirect!
        for i in 0..<kIn { let o = dDirect + Int(ins[i]) * c; VectorMath.add(o, db + i * w + h, o, c) }
      }
      switch mode {
      case .projected:
        let dQ = acc.dQ!
        for i in 0..<kIn { Self.multiplyAdd(db + i * w, gt, dQ + Int(ins[i]) * h, h) }
      case .layerNorm:
        let dQ = acc.dQ!, dDirect = acc.dDirect!
        let xr = xHat! + t * c
        for i in 0..<kIn {
          let f = Int(ins[i])
          let dbrow = db + i * w
          Self.multiplyAdd(dbrow, gr, dQ + f * h, h)
          let (du, dv) = Self.dot2(dbrow, y1, y2, h)
          Self.affineAdd(-du, -dv, xr, dDirect + f * c, c)
        }
      case .diagonal:
        for i in 0..<kIn { Self.multiply(db + i * w, gt, zBlock + (blockRow + i) * h, h) }
      }
      return Double(sum)
    }

    // Row helpers with a scalar tail: the elementwise ones 16 lanes at a time, the others 8.
    typealias V = VectorMath.V

    /// out = u ⊙ v (out may alias u). Elementwise, so the vector width does not change a bit.
    @inline(__always)
    static func multiply(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
      var m = 0
      while VectorMath.vectorized && m + 16 <= n {
        JacobianMicroKernels.store(JacobianMicroKernels.load(u + m) * JacobianMicroKernels.load(v + m), out + m)
        m += 16
      }
      while m < n { out[m] = u[m] * v[m]; m += 1 }
    }

    /// out += u ⊙ v (elementwise).
    @inline(__always)
    static func multiplyAdd(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
      var m = 0
      while VectorMath.vectorized && m + 16 <= n {
        JacobianMicroKernels.store(JacobianMicroKernels.load(out + m) + JacobianMicroKernels.load(u + m) * JacobianMicroKernels.load(v + m),
                                   out + m)
        m += 16
      }
      while m < n { out[m] += u[m] * v[m]; m += 1 }
    }


    /// out += α + β·x.
    @inline(__always)
    static func affineAdd(_ alpha: Float, _ beta: Float, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
      var m = 0
      let va = V(repeating: alpha), vb = V(repeating: beta)
      while VectorMath.vectorized && m + 8 <= n { VectorMath.store(VectorMath.load(out + m) + va + vb * VectorMath.load(x + m), out + m); m += 8 }
      while m < n { out[m] += alpha + beta * x[m]; m += 1 }
    }

    /// gr = g·rstd, y1 = gr ⊙ r1 / C, y2 = gr ⊙ r2 / C (invC = 1/C).
    @inline(__always)
    static func layerNormScales(_ g: UnsafePointer<Float>, _ rstd: Float, _ invC: Float, _ r1: UnsafePointer<Float>,
                                _ r2: UnsafePointer<Float>, _ gr: UnsafeMutablePointer<Float>, _ y1: UnsafeMutablePointer<Float>,
                                _ y2: UnsafeMutablePointer<Float>, _ n: Int) {
      var m = 0
      let vr = V(repeating: rstd), vc = V(repeating: invC)
      while VectorMath.vectorized && m + 8 <= n {
        let v = VectorMath.load(g + m) * vr
        VectorMath.store(v, gr + m)
        let vs = v * vc
        VectorMath.store(vs * VectorMath.load(r1 + m), y1 + m)
        VectorMath.store(vs * VectorMath.load(r2 + m), y2 + m)
        m += 8
      }
      while m < n {
        let v = g[m] * rstd
        gr[m] = v
        y1[m] = v * invC * r1[m]
        y2[m] = v * invC * r2[m]
        m += 1
      }
    }

    /// out = gr ⊙ q + α·y1 + β·y2.
    @inline(__always)
    static func layerNormRow(_ gr: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ y1: UnsafePointer<Float>, _ y2: UnsafePointer<Float>,
                             _ alpha: Float, _ beta: Float, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
      var m = 0
      let va = V(repeating: alpha), vb = V(repeating: beta)
      while VectorMath.vectorized && m + 8 <= n {
        let r = VectorMath.load(gr + m) * VectorMath.load(q + m) + va * VectorMath.load(y1 + m) + vb * VectorMath.load(y2 + m)
        VectorMath.store(r, out + m)
        m += 8
      }
      while m < n { out[m] = gr[m] * q[m] + alpha * y1[m] + beta * y2[m]; m += 1 }
    }

    /// Σ |u|, with four independent partial sums.
    @inline(__always)
    static func absSum(_ u: UnsafePointer<Float>, _ n: Int) -> Float {
      var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0, m = 0
      while m + 4 <= n {
        s0 += Swift.abs(u[m]); s1 += Swift.abs(u[m + 1]); s2 += Swift.abs(u[m + 2]); s3 += Swift.abs(u[m + 3])
        m += 4
      }
      while m < n { s0 += Swift.abs(u[m]); m += 1 }
      return (s0 + s1) + (s2 + s3)
    }

    /// u · v.
    @inline(__always)
    static func dot(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int) -> Float {
      var acc = V(), m = 0
      while VectorMath.vectorized && m + 8 <= n { acc += VectorMath.load(u + m) * VectorMath.load(v + m); m += 8 }
      var s = acc.sum()
      while m < n { s += u[m] * v[m]; m += 1 }
      return s
    }

    /// (u · v1, u · v2).
    @inline(__always)
    static func dot2(_ u: UnsafePointer<Float>, _ v1: UnsafePointer<Float>, _ v2: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
      var a1 = V(), a2 = V(), m = 0
      while VectorMath.vectorized && m + 8 <= n {
        let x = VectorMath.load(u + m)
        a1 += x * VectorMath.load(v1 + m)
        a2 += x * VectorMath.load(v2 + m)
        m += 8
      }
      var s1 = a1.sum(), s2 = a2.sum()
      while m < n { s1 += u[m] * v1[m]; s2 += u[m] * v2[m]; m += 1 }
      return (s1, s2)
    }
  }
}
