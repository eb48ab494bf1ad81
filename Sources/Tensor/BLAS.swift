import COpenBLAS

/// Thin typed wrappers over OpenBLAS's CBLAS calls (row-major).
public enum BLAS {
  /// C ← α·op(A)·op(B) + β·C, row-major; `op` transposes when the flag is set. A is m×k after op, B k×n.
  @inline(__always)
  public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int,
                           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
      // C ← β·C
      for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
      }
      return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// Products with fewer multiply-adds than this run single-threaded inside OpenBLAS 0.3
  /// (SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD = 65536 · 4), so callers may split them over cores.
  public static let singleThreadedWork = 262_144

  /// Number of threads OpenBLAS uses for one call.
  public static var threadCount: Int {
    get { Int(openblas_get_num_threads()) }
    set { openblas_set_num_threads(Int32(newValue)) }
  }

  /// The name of the sgemm kernel OpenBLAS selected for this CPU (e.g. "Haswell").
  public static var coreName: String { String(cString: openblas_get_corename()) }
}
