import Foundation

/// Row softmax kernels shared by softmax, cross-entropy and attention.
public enum SoftmaxKernel {
  /// Largest value of a row.
  @inline(__always)
  public static func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var m: Float = -.infinity
    if VectorMath.vectorized && n >= 8 {
      var mv = VectorMath.load(x)
      j = 8
      while j + 8 <= n { mv = VectorMath.max(mv, VectorMath.load(x + j)); j += 8 }
      m = VectorMath.horizontalMax(mv)
    }
    while j < n { if x[j] > m { m = x[j] }; j += 1 }
    return m
  }

  /// o[j] = exp(x[j] − shift); returns Σ o[j] (accumulated in Double).
  @inline(__always)
  public static func expShifted(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Double {
    var j = 0
    var acc = SIMD8<Float>()
    var total: Double = 0
    let s = SIMD8<Float>(repeating: shift)
    while VectorMath.vectorized && j + 8 <= n {
      let e = VectorMath.exp(VectorMath.load(x + j) - s)
      VectorMath.store(e, o + j)
      acc += e
      j += 8
      if j & 255 == 0 { total += Double(acc.sum()); acc = SIMD8() }
    }
    total += Double(acc.sum())
    while j < n { let e = expf(x[j] - shift); o[j] = e; total += Double(e); j += 1 }
    return total
  }

  /// Softmax of one row of length n.
  @inline(__always)
  public static func softmaxRow(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int) {
    guard n > 0 else { return }
    let m = rowMax(x, n)
    let total = expShifted(x, o, n, shift: m)
    let inv = Float(1 / total)
    for j in 0..<n { o[j] *= inv }
  }

  /// Softmax of one row of n finite values (no −∞ masking), as used by attention on its causal entries:
  /// saturating exponentials and a Float sum in 8 lanes. Agrees with `softmaxRow` to a few ulp.
  @inline(__always)
  public static func softmaxFiniteRow(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int) {
    guard n > 0 else { return }
    let m = rowMax(x, n)
    var j = 0
    var total: Float = 0
    if VectorMath.vectorized && n >= 8 {
      var acc = SIMD8<Float>()
      let s = SIMD8<Float>(repeating: m)
      while j + 8 <= n {
        let e = VectorMath.expSaturating(VectorMath.load(x + j) - s)
        VectorMath.store(e, o + j)
        acc += e
        j += 8
      }
      total = acc.sum()
    }
    while j < n { let e = expf(x[j] - m); o[j] = e; total += e; j += 1 }
    let inv = 1 / total
    for i in 0..<n { o[i] *= inv }
  }

  /// Log-softmax of one row of length n.
  @inline(__always)
  public static func logSoftmaxRow(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int) {
    guard n > 0 else { return }
    let m = rowMax(x, n)
    let total = expShifted(x, o, n, shift: m)
    // (x − m) − log Σ: x − m is exact for values near the maximum, so large logits keep their precision.
    let logTotal = Float(Foundation.log(total))
    for j in 0..<n { o[j] = (x[j] - m) - logTotal }
  }

  /// Plain reference softmax in Double (for tests).
  public static func referenceSoftmaxRow(_ x: [Float]) -> [Float] {
    let m = x.max() ?? 0
    let e = x.map { Foundation.exp(Double($0 - m)) }
    let s = e.reduce(0, +)
    return e.map { Float($0 / s) }
  }
}
