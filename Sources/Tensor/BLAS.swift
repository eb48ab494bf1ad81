import COpenBLAS

/// Typed wrappers over OpenBLAS's CBLAS calls (row-major).
///
/// OpenBLAS itself runs single-threaded (its worker threads would spin against ours); `sgemm` splits large
/// products over `Parallel.threadCount` cores itself: by rows of C, by columns of C, or — for short, wide
/// weight-gradient products — by the inner dimension into partial sums.
public enum BLAS {
  /// Products with at least this many multiply-adds are split over cores.
  public static let parallelThreshold = 1 << 20

  /// Set up before the first call: the kernels for this CPU (`OpenBLASCoreSelection`), one OpenBLAS thread.
  private static let configured: OpenBLASCoreSelection = {
    let selection = OpenBLASCoreSelection.apply()
    openblas_set_num_threads(1)
    return selection
  }()

  /// Which kernels OpenBLAS chose and which this process runs.
  public static var coreSelection: OpenBLASCoreSelection { configured }

  /// C ← α·op(A)·op(B) + β·C, row-major; `op` transposes when the flag is set. A is m×k after op, B k×n.
  /// Large products are split over cores.
  public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int,
                           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let parts = Parallel.threadCount
    guard parts > 1, m * n * k >= parallelThreshold else {
      sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
      return
    }
    if k >= 8 * Swift.max(m, n) {
      splitInner(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, parts: parts)
    } else if m >= 32 * parts && m >= n / 2 {
      // split rows of C (rows of op(A))
      Parallel.forRanges(parts, grain: 1) { r in
        for p in r {
          let lo = tileBoundary(m, p, parts), hi = tileBoundary(m, p + 1, parts)
          sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: hi - lo, n: n, k: k, alpha: alpha,
                      a: transposeA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c + lo * ldc, ldc: ldc)
        }
      }
    } else if n >= 32 * parts {
      // split columns of C (columns of op(B))
      Parallel.forRanges(parts, grain: 1) { r in
        for p in r {
          let lo = tileBoundary(n, p, parts), hi = tileBoundary(n, p + 1, parts)
          sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: hi - lo, k: k, alpha: alpha,
                      a: a, lda: lda, b: transposeB ? b + lo * ldb : b + lo, ldb: ldb,
                      beta: beta, c: c + lo, ldc: ldc)
        }
      }
    } else {
      splitInner(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, parts: parts)
    }
  }

  /// Where part p of `parts` begins when `total` rows (or columns) of C are split: a multiple of 16, so that every
  /// part starts on a boundary of the kernels' register tiles (2 to 16 wide) and each element of C is computed by
  /// the same tile shape as in one call over all of them. (Some kernels, such as OpenBLAS's generic Prescott
  /// one, round a remainder tile's products differently from a full tile's; an unaligned split would then
  /// change the last bit of the rows it moves into a remainder.)
  @inline(__always)
  static func tileBoundary(_ total: Int, _ p: Int, _ parts: Int) -> Int {
    p >= parts ? total : (total * p / parts) & ~15
  }

  /// Splits the inner dimension (weight-gradient shapes: small C, long K): part 0 accumulates into C, the
  /// others into scratch, then C += scratch.
  static func splitInner(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                         a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                         beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, parts: Int) {
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: (parts - 1) * m * n)
    defer { scratch.deallocate() }
    Parallel.forRanges(parts, grain: 1) { r in
      for p in r {
        let lo = k * p / parts, hi = k * (p + 1) / parts
        let pa = transposeA ? a + lo * lda : a + lo
        let pb = transposeB ? b + lo : b + lo * ldb
        if p == 0 {
          sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: hi - lo, alpha: alpha,
                      a: pa, lda: lda, b: pb, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
          sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: hi - lo, alpha: alpha,
                      a: pa, lda: lda, b: pb, ldb: ldb, beta: 0, c: scratch + (p - 1) * m * n, ldc: n)
        }
      }
    }
    for p in 1..<parts {
      let s = scratch + (p - 1) * m * n
      for i in 0..<m {
        let row = c + i * ldc, srow = s + i * n
        for j in 0..<n { row[j] += srow[j] }
      }
    }
  }

  /// The same product on the calling thread only (for callers that already split work over cores).
  @inline(__always)
  public static func sgemmSerial(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    _ = configured
    guard m > 0, n > 0 else { return }
    if k == 0 {
      for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
      }
      return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// C ← α·A·B + β·C in Double, row-major, no transposes (A m×k, B k×n), on the calling thread.
  public static func dgemm(m: Int, n: Int, k: Int, alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
                           b: UnsafePointer<Double>, ldb: Int, beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
    _ = configured
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// The upper triangle of C [n, n] ← α·Aᵀ·A + β·C in Double, row-major, A [k, n] (a sum of k outer products
  /// of rows of n values), on the calling thread.
  public static func dsyrkUpperTransposed(n: Int, k: Int, alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
                                          beta: Double = 1, c: UnsafeMutablePointer<Double>, ldc: Int) {
    _ = configured
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
  }

  /// Number of threads OpenBLAS uses inside one call (1 unless changed).
  public static var threadCount: Int {
    _ = configured
    return Int(openblas_get_num_threads())
  }

  /// The name of the kernels this process runs (e.g. "Haswell"); see `coreSelection`.
  public static var coreName: String { configured.current }

  /// The OpenBLAS kernels made for a CPU with these instruction-set flags (/proc/cpuinfo's names): "SkylakeX"
  /// with AVX-512 (F, BW, DQ, VL), "Haswell" with AVX2 and FMA, when OpenBLAS chose `core` "Prescott", its
  /// generic kernels for CPUs it does not recognise (such as an Emerald Rapids Xeon under OpenBLAS 0.3.21);
  /// nil otherwise. `OpenBLASCoreSelection` selects them.
  public static func betterCore(than core: String, cpuFlags: Set<String>) -> String? {
    guard core == "Prescott" else { return nil }
    if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(cpuFlags.contains) { return "SkylakeX" }
    if ["avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
    return nil
  }
}
