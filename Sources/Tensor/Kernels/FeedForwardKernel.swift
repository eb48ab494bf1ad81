import Foundation

/// GPT-2's feed-forward layer y = gelu(x·W₁ᵀ + b₁)·W₂ᵀ + b₂ (tanh GELU, PyTorch's Linear layout W₁ [H, C],
/// W₂ [C, H]), forward and backward fused over blocks of `rowBlock` rows: each block's hidden activations
/// [rows, H] stay in the core's cache between the first product, the GELU and the second product, instead of
/// three passes over [N, H] tensors in memory.
///
/// The forward keeps only the pre-activations h = x·W₁ᵀ + b₁ for the backward, which recomputes gelu(h) and
/// gelu′(h) block by block. Each block's h is computed in cache and streamed to the cache tensor by
/// non-temporal stores (`StreamingStore`): the backward reads it only after every later layer. Its outputs
/// equal the unfused composition's (`referenceForward`) to round-off: the same products and `GELUKernel`
/// forms, on row blocks for which OpenBLAS may pick other kernels (such as its small-matrix ones) than for a
/// whole-batch product. The weight and bias gradients are summed per chunk of rows (`RowChunkSums`) and the
/// chunks' partial sums added in order, so they do not depend on the number of threads (nor on how OpenBLAS
/// would split one long product).
public enum FeedForwardKernel {
  /// Whether the fused blocks pay for a layer of these sizes: each block updates partial weight gradients
  /// [C, H] and [H, C], which must stay in the core's cache (C·H at most `RowChunkSums.cachedValues`); larger
  /// layers take the unfused composition.
  public static func suits(inFeatures c: Int, hidden h: Int) -> Bool { c * h <= RowChunkSums.cachedValues }

  /// Rows per block for `hidden` units (`RowChunkSums.blockRows`), so that a block's hidden values, their GELU,
  /// its derivative and their gradient stay in a core's L2 cache together (256 rows at H = 256: 1.3× faster than
  /// the unfused composition on a Zen 4 core's 1 MiB L2, where 64 rows gave 1.17× and 512 no more than 256).
  public static func rowBlock(hidden h: Int) -> Int { RowChunkSums.blockRows(valuesPerRow: h) }

  /// What `forward` keeps for `backward`.
  public struct Cache: Sendable {
    /// The pre-activations h = x·W₁ᵀ + b₁ [N, H].
    public let hidden: Tensor
  }

  /// The gradients `backward` was asked for (nil for the others).
  public struct Gradients {
    /// dL/dx, x's shape.
    public var input: Tensor?
    /// dL/dW₁ [H, C].
    public var fcWeight: Tensor?
    /// dL/db₁ [H].
    public var fcBias: Tensor?
    /// dL/dW₂ [C, H].
    public var projWeight: Tensor?
    /// dL/db₂ [C].
    public var projBias: Tensor?
  }

  /// Which gradients `backward` computes.
  public struct Needs: Sendable {
    public var input, fcWeight, fcBias, projWeight, projBias: Bool
    public init(input: Bool = true, fcWeight: Bool = true, fcBias: Bool = true, projWeight: Bool = true, projBias: Bool = true) {
      (self.input, self.fcWeight, self.fcBias, self.projWeight, self.projBias) = (input, fcWeight, fcBias, projWeight, projBias)
    }
  }

  /// Checks the operands' shapes; returns (rows N, C, H).
  static func dimensions(_ x: Tensor, _ w1: Tensor, _ b1: Tensor?, _ w2: Tensor, _ b2: Tensor?) -> (Int, Int, Int) {
    precondition(w1.rank == 2 && w2.rank == 2, "feed-forward: weights \(w1.shape), \(w2.shape) are not matrices")
    let h = w1.shape[0], c = w1.shape[1]
    precondition(w2.shape == [c, h], "feed-forward: W₂ \(w2.shape) does not match W₁ \(w1.shape) (expected [\(c), \(h)])")
    precondition(x.rank >= 1 && x.shape.last == c, "feed-forward: input \(x.shape) does not end in \(c)")
    if let b1 { precondition(b1.shape == [h], "feed-forward: b₁ \(b1.shape) does not match \(h) hidden units") }
    if let b2 { precondition(b2.shape == [c], "feed-forward: b₂ \(b2.shape) does not match \(c) outputs") }
    return (x.count / c, c, h)
  }

  /// y [..., C] for x [..., C] and the cache for `backward`. GELU is computed as x·σ(2u)
  /// (`GELUKernel.forwardSigmoidForm`, the form whose derivative the backward takes).
  public static func forward(_ x: Tensor, fcWeight w1: Tensor, fcBias b1: Tensor?, projWeight w2: Tensor,
                             projBias b2: Tensor?) -> (Tensor, Cache) {
    let (n, c, h) = dimensions(x, w1, b1, w2, b2)
    var y = Tensor(uninitialized: x.shape)                 // [N, C]
    var hidden = Tensor(uninitialized: [n, h])             // [N, H]
    let py = y.unsafeMutablePointer(), ph = hidden.unsafeMutablePointer()
    let blockRows = rowBlock(hidden: h), blocks = (n + blockRows - 1) / blockRows
    withExtendedLifetime((x, w1, b1, w2, b2)) {
      let px = x.unsafePointer, pw1 = w1.unsafePointer, pw2 = w2.unsafePointer
      let pb1 = b1?.unsafePointer, pb2 = b2?.unsafePointer
      Parallel.forRanges(blocks, grain: 1) { range in
        // [blockRows, H] each: the block's pre-activations h, computed in cache, and gelu(h)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * blockRows * h)
        defer { scratch.deallocate() }
        TensorMemory.workArrayChanged(by: 2 * blockRows * h)
        defer { TensorMemory.workArrayChanged(by: -2 * blockRows * h) }
        let pre = scratch, activated = scratch + blockRows * h
        for block in range {
          let r0 = block * blockRows, m = Swift.min(blockRows, n - r0)
          LinearKernel.rows(px + r0 * c, rows: m, inFeatures: c, weight: pw1, bias: pb1, outFeatures: h, pre)
          GELUKernel.forwardSigmoidForm(pre, activated, m * h)
          // The cache's rows are read again only by the backward, after every later layer: streamed to memory.
          StreamingStore.copy(pre, to: ph + r0 * h, count: m * h)
          LinearKernel.rows(activated, rows: m, inFeatures: h, weight: pw2, bias: pb2, outFeatures: c, py + r0 * c)
        }
        StreamingStore.fence()
      }
    }
    return (y, Cache(hidden: hidden))
  }

  /// The gradients of L with respect to what `needs` names, for dy = dL/dy [..., C] and the forward's input
  /// x and cache.
  public static func backward(_ dy: Tensor, x: Tensor, fcWeight w1: Tensor, projWeight w2: Tensor, cache: Cache,
                              needs: Needs = Needs()) -> Gradients {
    let (n, c, h) = dimensions(x, w1, nil, w2, nil)
    precondition(dy.shape == x.shape, "feed-forward backward: gradient \(dy.shape) vs input \(x.shape)")
    precondition(cache.hidden.shape == [n, h], "feed-forward backward: cache \(cache.hidden.shape) vs [\(n), \(h)]")
    let blockRows = rowBlock(hidden: h), chunkRows = RowChunkSums.chunkRows(n), chunks = RowChunkSums.chunks(n)
    // Per chunk: dW₂ [C, H] and dW₁ [H, C] partials (Float, accumulated by the products; the chunks' dW₂ first,
    // then their dW₁), db₁ [H] and db₂ [C] (Double).
    let partialW2 = UnsafeMutablePointer<Float>.allocate(capacity: chunks * 2 * c * h), partialW1 = partialW2 + chunks * c * h
    let partialB = UnsafeMutablePointer<Double>.allocate(capacity: chunks * (h + c))
    defer { partialW2.deallocate(); partialB.deallocate() }
    partialB.initialize(repeating: 0, count: chunks * (h + c))
    if n == 0 { partialW2.initialize(repeating: 0, count: chunks * 2 * c * h) }   // no rows: zero gradients
    var dx = Tensor(uninitialized: needs.input ? x.shape : [0])
    let pdx = dx.unsafeMutablePointer()
    withExtendedLifetime((dy, x, w1, w2, cache.hidden)) {
      let pdy = dy.unsafePointer, px = x.unsafePointer, pw1 = w1.unsafePointer, pw2 = w2.unsafePointer
      let ph = cache.hidden.unsafePointer
      Parallel.forRanges(chunks, grain: 1) { range in
        // [blockRows, H] each: gelu(h), gelu′(h), the hidden gradient; a block's column sums [H]
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * blockRows * h + h)
        defer { scratch.deallocate() }
        TensorMemory.workArrayChanged(by: 3 * blockRows * h + h)
        defer { TensorMemory.workArrayChanged(by: -(3 * blockRows * h + h)) }
        let activated = scratch, derivative = scratch + blockRows * h, dh = derivative + blockRows * h
        let columns = dh + blockRows * h
        for chunk in range {
          let dW2 = partialW2 + chunk * c * h, dW1 = partialW1 + chunk * h * c   // [C, H], [H, C]
          let db1 = partialB + chunk * (h + c), db2 = db1 + h
          let lo = chunk * chunkRows, hi = Swift.min(n, lo + chunkRows)
          var r0 = lo
          while r0 < hi {
            let m = Swift.min(blockRows, hi - r0), beta: Float = r0 == lo ? 0 : 1
            let hb = ph + r0 * h, dyb = pdy + r0 * c, xb = px + r0 * c
            if needs.projWeight {
              GELUKernel.forward(hb, activated, derivative: derivative, m * h)
              // dW₂ += dyᵀ·gelu(h)   [C, m]·[m, H]
              BLAS.sgemmSerial(transposeA: true, transposeB: false, m: c, n: h, k: m, a: dyb, lda: c,
                               b: activated, ldb: h, beta: beta, c: dW2, ldc: h)
            } else {
              GELUKernel.derivative(hb, derivative, m * h)
            }
            if needs.projBias { RowChunkSums.addColumnSums(dyb, rows: m, columns: c, scratch: columns, into: db2) }
            // dh = (dy·W₂) ⊙ gelu′(h)   [m, C]·[C, H]
            BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: h, k: c, a: dyb, lda: c,
                             b: pw2, ldb: h, c: dh, ldc: h)
            multiply(dh, by: derivative, m * h)
            if needs.fcWeight {
              // dW₁ += dhᵀ·x   [H, m]·[m, C]
              BLAS.sgemmSerial(transposeA: true, transposeB: false, m: h, n: c, k: m, a: dh, lda: h,
                               b: xb, ldb: c, beta: beta, c: dW1, ldc: c)
            }
            if needs.fcBias { RowChunkSums.addColumnSums(dh, rows: m, columns: h, scratch: columns, into: db1) }
            if needs.input {
              // dx = dh·W₁   [m, H]·[H, C]
              BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: c, k: h, a: dh, lda: h,
                               b: pw1, ldb: c, c: pdx + r0 * c, ldc: c)
            }
            r0 += m
          }
        }
      }
    }
    var out = Gradients()
    if needs.input { out.input = dx }
    if needs.projWeight { out.projWeight = RowChunkSums.sumPartials(partialW2, chunks: chunks, shape: [c, h]) }
    if needs.fcWeight { out.fcWeight = RowChunkSums.sumPartials(partialW1, chunks: chunks, shape: [h, c]) }
    if needs.fcBias { out.fcBias = RowChunkSums.sumPartials(partialB, chunks: chunks, stride: h + c, count: h) }
    if needs.projBias { out.projBias = RowChunkSums.sumPartials(partialB + h, chunks: chunks, stride: h + c, count: c) }
    return out
  }

  /// The same forward through whole-tensor products and GELU passes, the unfused composition the fused loops
  /// are tested against: y and the cache. Without `keepHidden` (no backward to follow) GELU takes
  /// `Tensor.unary(.gelu)`'s form, as the differentiable forward does without gradients, and the cache is nil.
  public static func referenceForward(_ x: Tensor, fcWeight w1: Tensor, fcBias b1: Tensor?, projWeight w2: Tensor,
                                      projBias b2: Tensor?, keepHidden: Bool = true) -> (Tensor, Cache?) {
    let (n, c, _) = dimensions(x, w1, b1, w2, b2)
    let hidden = linear(x.reshaped([n, c]), w1, b1)
    let activated = keepHidden ? hidden.geluSavingDerivative().0 : hidden.unary(.gelu)
    return (linear(activated, w2, b2).reshaped(x.shape), keepHidden ? Cache(hidden: hidden) : nil)
  }

  /// The same backward through whole-tensor products (one long product per weight gradient) and Double-summed
  /// column sums for the biases.
  public static func referenceBackward(_ dy: Tensor, x: Tensor, fcWeight w1: Tensor, projWeight w2: Tensor,
                                       cache: Cache) -> Gradients {
    let (n, c, _) = dimensions(x, w1, nil, w2, nil)
    let dy2 = dy.reshaped([n, c]), x2 = x.reshaped([n, c])
    let (activated, derivative) = cache.hidden.geluSavingDerivative()
    let dh = Tensor.matmul(dy2, w2) * derivative                          // [N, H]
    var out = Gradients()
    out.input = Tensor.matmul(dh, w1).reshaped(x.shape)
    out.projWeight = Tensor.matmul(dy2, activated, transposeA: true)     // [C, H]
    out.fcWeight = Tensor.matmul(dh, x2, transposeA: true)               // [H, C]
    out.projBias = dy2.sum(axis: 0)
    out.fcBias = dh.sum(axis: 0)
    return out
  }

  /// x [N, in]·Wᵀ + b as `Variable.linear` computes it: the bias copied into every row, then one sgemm with β = 1.
  static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
    let n = x.shape[0], inF = w.shape[1], outF = w.shape[0]
    var y = Tensor(uninitialized: [n, outF])
    let py = y.unsafeMutablePointer()
    withExtendedLifetime((x, w, b)) {
      if let pb = b?.unsafePointer { for r in 0..<n { (py + r * outF).update(from: pb, count: outF) } }
      BLAS.sgemm(transposeA: false, transposeB: true, m: n, n: outF, k: inF, a: x.unsafePointer, lda: inF,
                 b: w.unsafePointer, ldb: inF, beta: b == nil ? 0 : 1, c: py, ldc: outF)
    }
    return y
  }

  /// a[i] *= b[i] over n elements.
  @inline(__always)
  static func multiply(_ a: UnsafeMutablePointer<Float>, by b: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while VectorMath.vectorized && i + 8 <= n {
      VectorMath.store(VectorMath.load(a + i) * VectorMath.load(b + i), a + i)
      i += 8
    }
    while i < n { a[i] *= b[i]; i += 1 }
  }
}
