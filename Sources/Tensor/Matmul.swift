extension Tensor {
  /// Matrix product with optional transposes, through `cblas_sgemm` (no transposing copies).
  ///
  /// - 2-D × 2-D: [M, K] · [K, N] (shapes before the transposes are applied).
  /// - N-D × 2-D: leading axes of `a` are rows (not with `transposeA`).
  /// - Batched: equal leading (batch) axes on both; each batch is one sgemm.
  public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
    if b.rank == 2 && (a.rank == 2 || !transposeA) {
      let rowsA = Shape.count(Array(a.shape.dropLast()))
      let m = transposeA ? a.shape[1] : rowsA
      let ka = transposeA ? a.shape[0] : a.shape[a.rank - 1]
      let kb = transposeB ? b.shape[1] : b.shape[0]
      let n = transposeB ? b.shape[0] : b.shape[1]
      precondition(ka == kb, "matmul: inner dimensions differ for \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
      var outShape = transposeA ? [m] : Array(a.shape.dropLast())
      outShape.append(n)
      var out = Tensor(uninitialized: outShape)
      withExtendedLifetime((a.storage, b.storage)) {
        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka,
                   a: a.unsafePointer, lda: a.shape[a.rank - 1], b: b.unsafePointer, ldb: b.shape[1],
                   c: out.unsafeMutablePointer(), ldc: n)
      }
      return out
    }
    precondition(a.rank == b.rank && a.shape.dropLast(2) == b.shape.dropLast(2),
                 "batched matmul needs equal batch axes, got \(a.shape) and \(b.shape)")
    let r = a.rank
    let batch = Shape.count(Array(a.shape.dropLast(2)))
    let m = transposeA ? a.shape[r - 1] : a.shape[r - 2]
    let ka = transposeA ? a.shape[r - 2] : a.shape[r - 1]
    let kb = transposeB ? b.shape[r - 1] : b.shape[r - 2]
    let n = transposeB ? b.shape[r - 2] : b.shape[r - 1]
    precondition(ka == kb, "matmul: inner dimensions differ for \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    var outShape = Array(a.shape.dropLast(2))
    outShape += [m, n]
    var out = Tensor(uninitialized: outShape)
    let sa = a.shape[r - 2] * a.shape[r - 1], sb = b.shape[r - 2] * b.shape[r - 1]
    let po = out.unsafeMutablePointer()
    withExtendedLifetime((a.storage, b.storage)) {
      let pa = a.unsafePointer, pb = b.unsafePointer
      let lda = a.shape[r - 1], ldb = b.shape[r - 1]
      // Small products: split the batch over cores; large ones are split inside BLAS.sgemm.
      let small = m * n * ka < BLAS.parallelThreshold
      if !small {
        for i in 0..<batch {
          BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka,
                     a: pa + i * sa, lda: lda, b: pb + i * sb, ldb: ldb, c: po + i * m * n, ldc: n)
        }
        return
      }
      Parallel.forRanges(batch, grain: 1) { range in
        for i in range {
          BLAS.sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka,
                     a: pa + i * sa, lda: lda, b: pb + i * sb, ldb: ldb, c: po + i * m * n, ldc: n)
        }
      }
    }
    return out
  }
}
