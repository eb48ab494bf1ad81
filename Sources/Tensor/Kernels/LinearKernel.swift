/// Fully connected layers on raw pointers (PyTorch layout W [outF, inF]), for hand-written passes that
/// keep their intermediates.
public enum LinearKernel {
  /// out[r] = x[r]·Wᵀ + b for `rows` rows on the calling thread; when `accumulate`, the product and bias are
  /// added to `out`.
  @inline(__always)
  public static func rows(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, outFeatures: Int, _ out: UnsafeMutablePointer<Float>,
                          accumulate: Bool = false) {
    guard rows > 0 else { return }
    if let bias {
      for r in 0..<rows {
        let o = out + r * outFeatures
        if accumulate { for j in 0..<outFeatures { o[j] += bias[j] } } else { o.update(from: bias, count: outFeatures) }
      }
    }
    let beta: Float = (bias != nil || accumulate) ? 1 : 0
    BLAS.sgemmSerial(transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                     a: x, lda: inFeatures, b: weight, ldb: inFeatures, beta: beta, c: out, ldc: outFeatures)
  }
}

extension LinearKernel {
  /// Whether `backward`'s blocks pay for a layer of these sizes: each block updates a partial dW [out, in], which
  /// must stay in the core's cache (`RowChunkSums.cachedValues`); larger layers take whole-batch products.
  public static func blockedBackwardSuits(inFeatures: Int, outFeatures: Int) -> Bool {
    inFeatures * outFeatures <= RowChunkSums.cachedValues
  }

  /// Rows per block of the blocked backward for a layer of `inFeatures` → `outFeatures`: a block's rows of dy
  /// and x stay in the core's L2 cache (`RowChunkSums.blockRows`).
  public static func backwardRowBlock(inFeatures: Int, outFeatures: Int) -> Int {
    RowChunkSums.blockRows(valuesPerRow: inFeatures + outFeatures)
  }

  /// The gradients of y = x·Wᵀ + b (x [N, in], W [out, in]) for dy [N, out]: dx = dy·W [N, in] (when
  /// `inputGradient`), dW = dyᵀ·x [out, in] and db = Σ_rows dy [out] (when `biasGradient`), over blocks of
  /// rows so that each block of dy is read from memory once for all three. dW and db are summed per block into
  /// partials per chunk of rows (`RowChunkSums`), added in chunk order (the same bits for any thread count);
  /// dx has the bits of one product per block.
  public static func backward(_ dy: Tensor, x: Tensor, weight w: Tensor, inputGradient: Bool, biasGradient: Bool)
    -> (dx: Tensor?, dWeight: Tensor, dBias: Tensor?) {
    precondition(w.rank == 2, "linear backward: weight \(w.shape) is not a matrix")
    let outF = w.shape[0], inF = w.shape[1]
    precondition(x.shape.last == inF && x.count % Swift.max(inF, 1) == 0, "linear backward: input \(x.shape) does not end in \(inF)")
    let n = inF == 0 ? 0 : x.count / inF
    precondition(dy.count == n * outF && dy.shape.last == outF, "linear backward: gradient \(dy.shape) vs \(n) rows of \(outF)")
    let chunks = RowChunkSums.chunks(n), chunkRows = RowChunkSums.chunkRows(n)
    let blockRows = backwardRowBlock(inFeatures: inF, outFeatures: outF)
    let partialW = UnsafeMutablePointer<Float>.allocate(capacity: chunks * outF * inF)
    let partialB = UnsafeMutablePointer<Double>.allocate(capacity: chunks * outF)
    defer { partialW.deallocate(); partialB.deallocate() }
    partialB.initialize(repeating: 0, count: chunks * outF)
    if n == 0 { partialW.initialize(repeating: 0, count: chunks * outF * inF) }   // no rows: zero gradients
    var dx = Tensor(uninitialized: inputGradient ? x.shape : [0])
    let pdx = dx.unsafeMutablePointer()
    withExtendedLifetime((dy, x, w)) {
      let pdy = dy.unsafePointer, px = x.unsafePointer, pw = w.unsafePointer
      Parallel.forRanges(chunks, grain: 1) { range in
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(outF, 1))   // a block's column sums
        defer { columns.deallocate() }
        for chunk in range {
          let dW = partialW + chunk * outF * inF, db = partialB + chunk * outF
          let lo = chunk * chunkRows, hi = Swift.min(n, lo + chunkRows)
          var r0 = lo
          while r0 < hi {
            let m = Swift.min(blockRows, hi - r0)
            let dyb = pdy + r0 * outF, xb = px + r0 * inF
            if inputGradient {
              // dx = dy·W   [m, out]·[out, in]
              BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: inF, k: outF, a: dyb, lda: outF,
                               b: pw, ldb: inF, c: pdx + r0 * inF, ldc: inF)
            }
            // dW += dyᵀ·x   [out, m]·[m, in]
            BLAS.sgemmSerial(transposeA: true, transposeB: false, m: outF, n: inF, k: m, a: dyb, lda: outF,
                             b: xb, ldb: inF, beta: r0 == lo ? 0 : 1, c: dW, ldc: inF)
            if biasGradient { RowChunkSums.addColumnSums(dyb, rows: m, columns: outF, scratch: columns, into: db) }
            r0 += m
          }
        }
      }
    }
    return (inputGradient ? dx : nil, RowChunkSums.sumPartials(partialW, chunks: chunks, shape: [outF, inF]),
            biasGradient ? RowChunkSums.sumPartials(partialB, chunks: chunks, stride: outF, count: outF) : nil)
  }
}
