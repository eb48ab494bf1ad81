import Tensor

/// The three k×k×W products of one token of `JacobianKernel` as register-blocked loops over rows addressed
/// by pointer (the rows of P are read in place: no copies, no packing, no BLAS call for matrices this small).
///
/// The loops use 16-lane vectors: one AVX-512 register in a native build, two AVX2 or four SSE registers
/// otherwise. The code, and so every bit of the results, is the same in every build; the vector width
/// only decides how many instructions a lane operation takes. Debug builds take the scalar loops
/// (`VectorMath.vectorized`).
///
/// Summation order:
/// - `abT`: each dot product sums 16 lane-wise partial sums (lane l takes the columns ≡ l mod 16 in column
///   order), reduced by halves (`reduce`), then adds the columns past the last multiple of 16 in order.
/// - `combine`: each output entry adds its terms in input-row order, one multiply and one add each, so the
///   vector width does not change it.
enum JacobianMicroKernels {
  typealias W16 = SIMD16<Float>

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> W16 { UnsafeRawPointer(p).loadUnaligned(as: W16.self) }
  @inline(__always) static func store(_ v: W16, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: W16.self) }

  /// Whether this build's code has 32 vector registers of 16 floats (AVX-512), as the compilation condition
  /// `GPTCIRCUITS_AVX512` says: `scripts/build-tools.sh` passes `-Xswiftc -DGPTCIRCUITS_AVX512` beside
  /// `-target-cpu native` on CPUs with AVX-512. It only chooses how many dot products and output columns
  /// share a pass, which changes no bit: with 32 registers, blocks of 2×4 dot products and combine passes of
  /// 64 columns; otherwise (baseline SSE, AVX2: a 16-lane accumulator takes four or two of 16 registers)
  /// blocks of 2×1 and passes of 16 columns, which keep the accumulators in registers.
  #if GPTCIRCUITS_AVX512
  static let wideRegisters = true
  #else
  static let wideRegisters = false
  #endif

  /// The sum of the 16 lanes, by halves: (lanes 0–7 + lanes 8–15), then 4, 2 and 1.
  @inline(__always) static func reduce(_ v: W16) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
  }

  /// J[a, b] = A[a] · B[b] for a < mOut, b < mIn; rows `a` and `b` of width W; J [mOut, mIn] row-major.
  /// Blocks of 2 rows of A by 4, 2 or 1 rows of B (by 1 without `wideRegisters`) share their loads.
  static func abT(_ a: UnsafePointer<UnsafePointer<Float>>, mOut: Int, _ b: UnsafePointer<UnsafePointer<Float>>, mIn: Int,
                  width w: Int, _ j: UnsafeMutablePointer<Float>) {
    var r = 0
    while r + 2 <= mOut {
      let j0 = j + r * mIn, j1 = j0 + mIn
      var c = 0
      while Self.wideRegisters && c + 4 <= mIn {
        dot2x4(a[r], a[r + 1], b + c, w, j0 + c, j1 + c)
        c += 4
      }
      if Self.wideRegisters && c + 2 <= mIn {
        dot2x2(a[r], a[r + 1], b[c], b[c + 1], w, j0 + c, j1 + c)
        c += 2
      }
      while c < mIn { (j0[c], j1[c]) = dot2x1(a[r], a[r + 1], b[c], w); c += 1 }
      r += 2
    }
    if r < mOut {
      for c in 0..<mIn { j[r * mIn + c] = dot(a[r], b[c], w) }
    }
  }

  /// The 2×4 block of dot products of rows u0, u1 with rows v[0]…v[3].
  @inline(__always)
  static func dot2x4(_ u0: UnsafePointer<Float>, _ u1: UnsafePointer<Float>, _ v: UnsafePointer<UnsafePointer<Float>>, _ n: Int,
                     _ out0: UnsafeMutablePointer<Float>, _ out1: UnsafeMutablePointer<Float>) {
    let v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3]
    var c00 = W16(), c01 = W16(), c02 = W16(), c03 = W16(), c10 = W16(), c11 = W16(), c12 = W16(), c13 = W16()
    var m = 0
    while VectorMath.vectorized && m + 16 <= n {
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
      m += 16
    }
    var s00 = reduce(c00), s01 = reduce(c01), s02 = reduce(c02), s03 = reduce(c03)
    var s10 = reduce(c10), s11 = reduce(c11), s12 = reduce(c12), s13 = reduce(c13)
    while m < n {
      let x0 = u0[m], x1 = u1[m]
      s00 += x0 * v0[m]; s01 += x0 * v1[m]; s02 += x0 * v2[m]; s03 += x0 * v3[m]
      s10 += x1 * v0[m]; s11 += x1 * v1[m]; s12 += x1 * v2[m]; s13 += x1 * v3[m]
      m += 1
    }
    out0[0] = s00; out0[1] = s01; out0[2] = s02; out0[3] = s03
    out1[0] = s10; out1[1] = s11; out1[2] = s12; out1[3] = s13
  }

  /// The 2×2 block of dot products of rows u0, u1 with rows v0, v1.
  @inline(__always)
  static func dot2x2(_ u0: UnsafePointer<Float>, _ u1: UnsafePointer<Float>, _ v0: UnsafePointer<Float>, _ v1: UnsafePointer<Float>,
                     _ n: Int, _ out0: UnsafeMutablePointer<Float>, _ out1: UnsafeMutablePointer<Float>) {
    var c00 = W16(), c01 = W16(), c10 = W16(), c11 = W16()
    var m = 0
    while VectorMath.vectorized && m + 16 <= n {
      let x0 = load(u0 + m), x1 = load(u1 + m)
      var y = load(v0 + m)
      c00 += x0 * y
      c10 += x1 * y
      y = load(v1 + m)
      c01 += x0 * y
      c11 += x1 * y
      m += 16
    }
    var s00 = reduce(c00), s01 = reduce(c01), s10 = reduce(c10), s11 = reduce(c11)
    while m < n {
      let x0 = u0[m], x1 = u1[m]
      s00 += x0 * v0[m]; s01 += x0 * v1[m]
      s10 += x1 * v0[m]; s11 += x1 * v1[m]
      m += 1
    }
    out0[0] = s00; out0[1] = s01
    out1[0] = s10; out1[1] = s11
  }

  /// (u0 · v, u1 · v).
  @inline(__always)
  static func dot2x1(_ u0: UnsafePointer<Float>, _ u1: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
    var c0 = W16(), c1 = W16()
    var m = 0
    while VectorMath.vectorized && m + 16 <= n {
      let y = load(v + m)
      c0 += load(u0 + m) * y
      c1 += load(u1 + m) * y
      m += 16
    }
    var s0 = reduce(c0), s1 = reduce(c1)
    while m < n { s0 += u0[m] * v[m]; s1 += u1[m] * v[m]; m += 1 }
    return (s0, s1)
  }

  /// u · v.
  @inline(__always)
  static func dot(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = W16(), m = 0
    while VectorMath.vectorized && m + 16 <= n {
      acc += load(u + m) * load(v + m)
      m += 16
    }
    var s = reduce(acc)
    while m < n { s += u[m] * v[m]; m += 1 }
    return s
  }

  /// out[r] (+)= Σ_i coef[r·rowStep + i·step] · x[i] for r < m, with `count` input rows x, terms added in
  /// input-row order. `coefficients` has room for m · count floats (the coefficients laid out row by row).
  ///
  /// dA = S·B added into gathered rows of dP: out = dP rows, coef = S, rowStep = k_in, step = 1, x = B rows.
  /// dB = Sᵀ·A: out = dB rows, coef = S, rowStep = 1, step = k_in, x = A rows.
  static func combine(_ coef: UnsafePointer<Float>, rowStep: Int, step: Int, _ x: UnsafePointer<UnsafePointer<Float>>, count: Int,
                      _ out: UnsafePointer<UnsafeMutablePointer<Float>>, m: Int, width w: Int, accumulate: Bool,
                      coefficients: UnsafeMutablePointer<Float>) {
    for r in 0..<m {
      for i in 0..<count { coefficients[r &* count &+ i] = coef[r &* rowStep &+ i &* step] }
    }
    var r = 0
    while r + 2 <= m {
      combine2(coefficients + r * count, coefficients + (r + 1) * count, x, count: count, out[r], out[r + 1], width: w,
               accumulate: accumulate)
      r += 2
    }
    if r < m { combine1(coefficients + r * count, x, count: count, out[r], width: w, accumulate: accumulate) }
  }

  /// Two output rows at once, 64 columns per pass (with `wideRegisters`), then 16, then one at a time (each input
  /// row chunk is loaded once for both).
  @inline(__always)
  static func combine2(_ c0: UnsafePointer<Float>, _ c1: UnsafePointer<Float>, _ x: UnsafePointer<UnsafePointer<Float>>, count: Int,
                       _ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>, width w: Int, accumulate: Bool) {
    var m = 0
    while Self.wideRegisters && VectorMath.vectorized && m + 64 <= w {
      var a0 = W16(), a1 = W16(), a2 = W16(), a3 = W16(), b0 = W16(), b1 = W16(), b2 = W16(), b3 = W16()
      if accumulate {
        a0 = load(o0 + m); a1 = load(o0 + m + 16); a2 = load(o0 + m + 32); a3 = load(o0 + m + 48)
        b0 = load(o1 + m); b1 = load(o1 + m + 16); b2 = load(o1 + m + 32); b3 = load(o1 + m + 48)
      }
      for i in 0..<count {
        let row = x[i] + m
        let y0 = load(row), y1 = load(row + 16), y2 = load(row + 32), y3 = load(row + 48)
        let s0 = W16(repeating: c0[i]), s1 = W16(repeating: c1[i])
        a0 += s0 * y0; a1 += s0 * y1; a2 += s0 * y2; a3 += s0 * y3
        b0 += s1 * y0; b1 += s1 * y1; b2 += s1 * y2; b3 += s1 * y3
      }
      store(a0, o0 + m); store(a1, o0 + m + 16); store(a2, o0 + m + 32); store(a3, o0 + m + 48)
      store(b0, o1 + m); store(b1, o1 + m + 16); store(b2, o1 + m + 32); store(b3, o1 + m + 48)
      m += 64
    }
    while VectorMath.vectorized && m + 16 <= w {
      var a0 = W16(), b0 = W16()
      if accumulate { a0 = load(o0 + m); b0 = load(o1 + m) }
      for i in 0..<count {
        let y = load(x[i] + m)
        a0 += W16(repeating: c0[i]) * y
        b0 += W16(repeating: c1[i]) * y
      }
      store(a0, o0 + m); store(b0, o1 + m)
      m += 16
    }
    while m < w {
      var t0: Float = accumulate ? o0[m] : 0, t1: Float = accumulate ? o1[m] : 0
      for i in 0..<count {
        let y = x[i][m]
        t0 += c0[i] * y
        t1 += c1[i] * y
      }
      o0[m] = t0
      o1[m] = t1
      m += 1
    }
  }

  /// One output row, 64 columns per pass (with `wideRegisters`), then 16, then one at a time.
  @inline(__always)
  static func combine1(_ c0: UnsafePointer<Float>, _ x: UnsafePointer<UnsafePointer<Float>>, count: Int,
                       _ o0: UnsafeMutablePointer<Float>, width w: Int, accumulate: Bool) {
    var m = 0
    while Self.wideRegisters && VectorMath.vectorized && m + 64 <= w {
      var a0 = W16(), a1 = W16(), a2 = W16(), a3 = W16()
      if accumulate { a0 = load(o0 + m); a1 = load(o0 + m + 16); a2 = load(o0 + m + 32); a3 = load(o0 + m + 48) }
      for i in 0..<count {
        let row = x[i] + m
        let s0 = W16(repeating: c0[i])
        a0 += s0 * load(row); a1 += s0 * load(row + 16); a2 += s0 * load(row + 32); a3 += s0 * load(row + 48)
      }
      store(a0, o0 + m); store(a1, o0 + m + 16); store(a2, o0 + m + 32); store(a3, o0 + m + 48)
      m += 64
    }
    while VectorMath.vectorized && m + 16 <= w {
      var a0 = W16()
      if accumulate { a0 = load(o0 + m) }
      for i in 0..<count { a0 += W16(repeating: c0[i]) * load(x[i] + m) }
      store(a0, o0 + m)
      m += 16
    }
    while m < w {
      var t0: Float = accumulate ? o0[m] : 0
      for i in 0..<count { t0 += c0[i] * x[i][m] }
      o0[m] = t0
      m += 1
    }
  }
}
