#if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
import _Builtin_intrinsics.intel
#endif

/// Vectorised transcendental functions on 8 floats, used by the fused kernels.
///
/// Accuracy: `exp` within 2 ulp of `expf` on [−87.3, 88.3]; below −87.3 (where `expf` is subnormal) it
/// returns 0, above ln(Float.greatestFiniteMagnitude) ≈ 88.72 it returns +∞, and in between e^88.3.
/// `tanh` within 3e-7 absolute. Each is written with operations that lower to SSE2 instructions.
public enum VectorMath {
  public typealias V = SIMD8<Float>

  /// Whether kernels take their SIMD paths: true in optimised builds. Debug builds leave generic SIMD code
  /// unspecialised (each lane goes through witness calls, ~100× slower than a scalar loop), so there the
  /// kernels use their scalar loops; the SIMD functions themselves stay callable and tested.
  #if DEBUG
  public static let vectorized = false
  #else
  public static let vectorized = true
  #endif

  @inlinable @inline(__always) public static func max(_ a: V, _ b: V) -> V { a.replacing(with: b, where: a .< b) }
  @inlinable @inline(__always) public static func min(_ a: V, _ b: V) -> V { a.replacing(with: b, where: a .> b) }

  /// Largest lane.
  @inlinable @inline(__always) public static func horizontalMax(_ a: V) -> Float {
    let lo = SIMD4<Float>(a[0], a[1], a[2], a[3]), hi = SIMD4<Float>(a[4], a[5], a[6], a[7])
    let m = lo.replacing(with: hi, where: lo .< hi)
    let m2 = SIMD2<Float>(m[0], m[1]).replacing(with: SIMD2<Float>(m[2], m[3]), where: SIMD2<Float>(m[0], m[1]) .< SIMD2<Float>(m[2], m[3]))
    return m2[0] > m2[1] ? m2[0] : m2[1]
  }

  /// eˣ per lane (Cephes-style: range reduction by ln 2, degree-6 polynomial, exponent by bit shift).
  @inlinable @inline(__always) public static func exp(_ x: V) -> V {
    // Outside the clamped range: e^-∞ = 0 exactly (masked softmax entries), overflow to +∞ like expf.
    expSaturating(x).replacing(with: 0, where: x .< -87.3).replacing(with: .infinity, where: x .> 88.722_84)
  }

  /// eˣ per lane for callers that tolerate saturation at the ends of the float range: the argument is
  /// clamped to [−87.3, 88.3] (so e^−∞ gives ≈ 1.2e-38 rather than 0, and large x gives ≈ 2.2e38 rather
  /// than ∞); inside that range it equals `exp`. Cheaper than `exp` by its two masks. For softmax rows of
  /// finite values after subtracting the row maximum, and for logistic functions 1/(1 + e^−x).
  @inlinable @inline(__always) public static func expSaturating(_ x: V) -> V {
    let xc = min(max(x, V(repeating: -87.3)), V(repeating: 88.3))
    let t = xc * 1.442_695_040_888_963_4 + 12_582_912.0  // round(x·log2 e) in the low mantissa bits
    let n = t - 12_582_912.0
    var r = xc - n * 0.693_359_375
    r = r - n * (-2.121_944_4e-4)
    var p = V(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * r * r + r + 1
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    return p * unsafeBitCast((ni &+ 127) &<< 23, to: V.self)
  }

  /// tanh per lane: odd polynomial for |x| < 0.625, 1 − 2/(e^{2|x|} + 1) with the sign restored otherwise.
  @inlinable @inline(__always) public static func tanh(_ x: V) -> V {
    let ax = max(x, -x)
    // large branch
    let e = exp(min(ax * 2, V(repeating: 88)))
    let big = 1 - 2 / (e + 1)
    // small branch: minimax polynomial (Cephes tanhf)
    let z = x * x
    var p = V(repeating: -5.704_988_72e-3)
    p = p * z + 2.063_908_87e-2
    p = p * z - 5.373_971_95e-2
    p = p * z + 1.333_144_22e-1
    p = p * z - 3.333_328_19e-1
    let small = x + x * z * p
    let signed = big.replacing(with: -big, where: x .< 0)
    return signed.replacing(with: small, where: ax .< 0.625)
  }

  /// out[i] = a[i] + b[i] over n elements (out may alias a or b).
  @inlinable @inline(__always) public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                                      _ out: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while vectorized && i + 8 <= n {
      store(load(a + i) + load(b + i), out + i)
      i += 8
    }
    while i < n { out[i] = a[i] + b[i]; i += 1 }
  }

  /// y[i] += α·x[i] over n elements.
  @inlinable @inline(__always) public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>,
                                                       _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    if vectorized {
      let va = V(repeating: alpha)
      while i + 8 <= n {
        store(load(y + i) + va * load(x + i), y + i)
        i += 8
      }
    }
    while i < n { y[i] += alpha * x[i]; i += 1 }
  }

  /// out[i] = Σ over the `chunks` blocks of `size` values at `chunked` (block ch at chunked + ch·size) of
  /// their i-th value, added in block order for every element (so any split gives the same bits); elements are
  /// split over the cores. `out` may be block 0 itself.
  public static func sumChunks(_ chunked: UnsafePointer<Float>, chunks: Int, size: Int, into out: UnsafeMutablePointer<Float>) {
    guard chunks > 0, size > 0 else { return }
    Parallel.forRanges(size, grain: 4096) { r in
      if UnsafePointer(out) != chunked { (out + r.lowerBound).update(from: chunked + r.lowerBound, count: r.count) }
      for ch in 1..<chunks {
        let src = chunked + ch * size
        for i in r { out[i] += src[i] }
      }
    }
  }

  /// Σ a[i]·b[i] over n elements (8 lanes in optimised builds; a plain loop otherwise).
  @inlinable @inline(__always) public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var total: Float = 0
    if vectorized && n >= 8 {
      var acc = V()
      while i + 8 <= n {
        acc += load(a + i) * load(b + i)
        i += 8
      }
      total = acc.sum()
    }
    while i < n { total += a[i] * b[i]; i += 1 }
    return total
  }

  /// Bit i (i < 8) set where a[i] ≥ b[i]; NaN compares false. One compare and one movemask per half on x86-64.
  @inline(__always) static func bitsAtLeast(_ a: V, _ b: V) -> Int {
    #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
    return Int(_mm_movemask_ps(_mm_cmpge_ps(a.lowHalf, b.lowHalf)) | _mm_movemask_ps(_mm_cmpge_ps(a.highHalf, b.highHalf)) << 4)
    #else
    return Int(SIMD8<Int32>().replacing(with: SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128), where: a .>= b).wrappedSum())
    #endif
  }

  /// Bit i (i < 8) set where a[i] > b[i]; NaN compares false.
  @inline(__always) static func bitsGreater(_ a: V, _ b: V) -> Int {
    #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
    return Int(_mm_movemask_ps(_mm_cmpgt_ps(a.lowHalf, b.lowHalf)) | _mm_movemask_ps(_mm_cmpgt_ps(a.highHalf, b.highHalf)) << 4)
    #else
    return Int(SIMD8<Int32>().replacing(with: SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128), where: a .> b).wrappedSum())
    #endif
  }

  /// Bit i (i < 8) set where a[i] == b[i]; NaN compares false.
  @inline(__always) static func bitsEqual(_ a: V, _ b: V) -> Int {
    #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
    return Int(_mm_movemask_ps(_mm_cmpeq_ps(a.lowHalf, b.lowHalf)) | _mm_movemask_ps(_mm_cmpeq_ps(a.highHalf, b.highHalf)) << 4)
    #else
    return Int(SIMD8<Int32>().replacing(with: SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128), where: a .== b).wrappedSum())
    #endif
  }

  /// Bit i (i < 8) set where a[i] is NaN.
  @inline(__always) static func bitsNaN(_ a: V) -> Int {
    #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
    return Int(_mm_movemask_ps(_mm_cmpunord_ps(a.lowHalf, a.lowHalf)) | _mm_movemask_ps(_mm_cmpunord_ps(a.highHalf, a.highHalf)) << 4)
    #else
    return Int(SIMD8<Int32>().replacing(with: SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128), where: a .!= a).wrappedSum())
    #endif
  }

  /// Loads 8 floats.
  @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  /// Stores 8 floats.
  @inlinable @inline(__always) public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
  }
}
