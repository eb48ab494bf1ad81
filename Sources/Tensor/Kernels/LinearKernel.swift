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
