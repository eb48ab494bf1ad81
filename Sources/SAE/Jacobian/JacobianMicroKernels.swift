import Tensor

/// The three k×k×W products of one token of `JacobianKernel` as register-blocked loops over rows addressed
/// by pointer (the rows of P are read in place: no copies, no packing, no BLAS call for matrices this small).
///
/// The loops use 4-lane vectors, the width the portable (SSE2) build compiles SIMD code to, blocked so that
/// accumulators and operands fit the 16 vector registers. Debug builds take the scalar loops
/// (`VectorMath.vectorized`).
enum JacobianMicroKernels {
  typealias V4 = SIMD4<Float>

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V4 { UnsafeRawPointer(p).loadUnaligned(as: V4.self) }
  @inline(__always) static func store(_ v: V4, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V4.self) }

  /// J[a, b] = A[a] · B[b] for a < mOut, b < mIn; rows `a` and `b` of width W; J [mOut, mIn] row-major.
  static func abT(_ a: UnsafePointer<UnsafePointer<Float>>, mOut: Int, _ b: UnsafePointer<UnsafePointer<Float>>, mIn: Int,
                  width w: Int, _ j: UnsafeMutablePointer<Float>) {
    var r = 0
    while r + 2 <= mOut {
      let j0 = j + r * mIn, j1 = j0 + mIn
      var c = 0
      while c + 4 <= mIn {
        dot2x4(a[r], a[r + 1], b[c], b[c + 1], b[c + 2], b[c + 3], w, j0 + c, j1 + c)
        c += 4
      }
      while c < mIn {
        j0[c] = dot(a[r], b[c], w)
        j1[c] = dot(a[r + 1], b[c], w)
        c += 1
      }
      r += 2
    }
    if r < mOut {
      for c in 0..<mIn { j[r * mIn + c] = dot(a[r], b[c], w) }
    }
  }

  /// out[r] (+)= Σ_i coef[r·rowStep + i·step] · x[i] for r < m, with `count` input rows x; `splat` has room
  /// for m · count vectors (the coefficients broadcast once, not once per chunk of a row).
  ///
  /// dA = S·B added into gathered rows of dP: out = dP rows, coef = S, rowStep = k_in, step = 1, x = B rows.
  /// dB = Sᵀ·A: out = dB rows, coef = S, rowStep = 1, step = k_in, x = A rows.
  static func combine(_ coef: UnsafePointer<Float>, rowStep: Int, step: Int, _ x: UnsafePointer<UnsafePointer<Float>>, count: Int,
                      _ out: UnsafePointer<UnsafeMutablePointer<Float>>, m: Int, width w: Int, accumulate: Bool,
                      splat: UnsafeMutablePointer<V4>) {
    for r in 0..<m {
      for i in 0..<count { splat[r &* count &+ i] = V4(repeating: coef[r &* rowStep &+ i &* step]) }
    }
    var r = 0
    while r + 2 <= m {
      combine2(splat + r * count, splat + (r + 1) * count, x, count: count, out[r], out[r + 1], width: w, accumulate: accumulate)
      r += 2
    }
    if r < m { combine1(splat + r * count, x, count: count, out[r], width: w, accumulate: accumulate) }
  }

  /// Two output rows at once, 16 columns per pass (each input row chunk is loaded once for both).
  @inline(__always)
  static func combine2(_ c0: UnsafePointer<V4>, _ c1: UnsafePointer<V4>, _ x: UnsafePointer<UnsafePointer<Float>>, count: Int,
                       _ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>, width w: Int, accumulate: Bool) {
    var m = 0
    while VectorMath.vectorized && m + 16 <= w {
      var a0 = V4(), a1 = V4(), a2 = V4(), a3 = V4(), b0 = V4(), b1 = V4(), b2 = V4(), b3 = V4()
      if accumulate {
        a0 = load(o0 + m); a1 = load(o0 + m + 4); a2 = load(o0 + m + 8); a3 = load(o0 + m + 12)
        b0 = load(o1 + m); b1 = load(o1 + m + 4); b2 = load(o1 + m + 8); b3 = load(o1 + m + 12)
      }
      for i in 0..<count {
        let row = x[i] + m
        let y0 = load(row), y1 = load(row + 4), y2 = load(row + 8), y3 = load(row + 12)
        let s0 = c0[i], s1 = c1[i]
        a0 += s0 * y0; a1 += s0 * y1; a2 += s0 * y2; a3 += s0 * y3
        b0 += s1 * y0; b1 += s1 * y1; b2 += s1 * y2; b3 += s1 * y3
      }
      store(a0, o0 + m); store(a1, o0 + m + 4); store(a2, o0 + m + 8); store(a3, o0 + m + 12)
      store(b0, o1 + m); store(b1, o1 + m + 4); store(b2, o1 + m + 8); store(b3, o1 + m + 12)
      m += 16
    }
    while m < w {
      var t0: Float = accumulate ? o0[m] : 0, t1: Float = accumulate ? o1[m] : 0
      for i in 0..<count {
        let y = x[i][m]
        t0 += c0[i][0] * y
        t1 += c1[i][0] * y
      }
      o0[m] = t0
      o1[m] = t1
      m += 1
    }
  }

  @inline(__always)
  static func combine1(_ c0: UnsafePointer<V4>, _ x: UnsafePointer<UnsafePointer<Float>>, count: Int,
                       _ o0: UnsafeMutablePointer<Float>, width w: Int, accumulate: Bool) {
    var m = 0
    while VectorMath.vectorized && m + 16 <= w {
      var a0 = V4(), a1 = V4(), a2 = V4(), a3 = V4()
      if accumulate { a0 = load(o0 + m); a1 = load(o0 + m + 4); a2 = load(o0 + m + 8); a3 = load(o0 + m + 12) }
      for i in 0..<count {
        let row = x[i] + m
        let s0 = c0[i]
        a0 += s0 * load(row); a1 += s0 * load(row + 4); a2 += s0 * load(row + 8); a3 += s0 * load(row + 12)
      }
      store(a0, o0 + m); store(a1, o0 + m + 4); store(a2, o0 + m + 8); store(a3, o0 + m + 12)
      m += 16
    }
    while m < w {
      var t0: Float = accumulate ? o0[m] : 0
      for i in 0..<count { t0 += c0[i][0] * x[i][m] }
      o0[m] = t0
      m += 1
    }
  }

  /// u · v.
  @inline(__always)
  static func dot(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = V4(), acc1 = V4(), m = 0
    while VectorMath.vectorized && m + 8 <= n {
      acc0 += load(u + m) * load(v + m)
      acc1 += load(u + m + 4) * load(v + m + 4)
      m += 8
    }
    var s = (acc0 + acc1).sum()
    while m < n { s += u[m] * v[m]; m += 1 }
    return s
  }

  /// The 2×4 block of dot products of rows u0, u1 with rows v0…v3 (8 accumulators of 4 lanes).
  @inline(__always)
  static func dot2x4(_ u0: UnsafePointer<Float>, _ u1: UnsafePointer<Float>, _ v0: UnsafePointer<Float>, _ v1: UnsafePointer<Float>,
                     _ v2: UnsafePointer<Float>, _ v3: UnsafePointer<Float>, _ n: Int,
                     _ out0: UnsafeMutablePointer<Float>, _ out1: UnsafeMutablePointer<Float>) {
    var c00 = V4(), c01 = V4(), c02 = V4(), c03 = V4(), c10 = V4(), c11 = V4(), c12 = V4(), c13 = V4()
    var m = 0
    while VectorMath.vectorized && m + 4 <= n {
      let x0 = load(u0 + m), x1 = load(u1 + m)
      var y = load(v0 + m)
      c00 += x0 * y
      c10 += x1 * y
      y = load(v1 + m)
      c01 += x0 * y
      c11 += x1 * y
      y = load(v2 + m)
      c02 += x0 * y
      c12 += x1 * y
      y = load(v3 + m)
      c03 += x0 * y
      c13 += x1 * y
      m += 4
    }
    var s00 = c00.sum(), s01 = c01.sum(), s02 = c02.sum(), s03 = c03.sum()
    var s10 = c10.sum(), s11 = c11.sum(), s12 = c12.sum(), s13 = c13.sum()
    while m < n {
      let x0 = u0[m], x1 = u1[m]
      s00 += x0 * v0[m]; s01 += x0 * v1[m]; s02 += x0 * v2[m]; s03 += x0 * v3[m]
      s10 += x1 * v0[m]; s11 += x1 * v1[m]; s12 += x1 * v2[m]; s13 += x1 * v3[m]
      m += 1
    }
    out0[0] = s00; out0[1] = s01; out0[2] = s02; out0[3] = s03
    out1[0] = s10; out1[1] = s11; out1[2] = s12; out1[3] = s13
  }
}
