import Foundation

/// Layer normalisation over the last axis: y = (x − mean)·rstd·w + b, rstd = 1/√(var + eps)
/// (biased variance), forward and backward, with plain reference versions for tests.
public enum LayerNormKernel {
  /// What the backward pass needs from the forward pass.
  public struct Cache {
    /// Row means, [rows].
    public var mean: Tensor
    /// Row reciprocal standard deviations, [rows].
    public var rstd: Tensor
  }

  /// x [..., C] → y [..., C], normalising each row of C values.
  public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float = 1e-5) -> (Tensor, Cache) {
    let c = x.shape.last!
    precondition(weight.shape == [c] && bias.shape == [c],
                 "layer norm: weight \(weight.shape) / bias \(bias.shape) do not match input \(x.shape)")
    let rows = x.count / c
    var y = Tensor(uninitialized: x.shape)
    var mean = Tensor(uninitialized: [rows]), rstd = Tensor(uninitialized: [rows])
    let py = y.unsafeMutablePointer(), pm = mean.unsafeMutablePointer(), pr = rstd.unsafeMutablePointer()
    let simd = VectorMath.vectorized && c % 8 == 0
    withExtendedLifetime((x, weight, bias)) {
      let px = x.unsafePointer, pw = weight.unsafePointer, pb = bias.unsafePointer
      Parallel.forRanges(rows, grain: Swift.max(1, 16384 / c)) { r in
        for row in r {
          (pm[row], pr[row]) = forwardRow(px + row * c, py + row * c, weight: pw, bias: pb, c: c, eps: eps, simd: simd)
        }
      }
    }
    return (y, Cache(mean: mean, rstd: rstd))
  }

  /// Gradients (dx, dweight, dbias) from the upstream gradient dy.
  public static func backward(_ dy: Tensor, x: Tensor, weight: Tensor, cache: Cache) -> (dx: Tensor, dweight: Tensor, dbias: Tensor) {
    precondition(dy.shape == x.shape, "layer norm backward: gradient \(dy.shape) vs input \(x.shape)")
    let c = x.shape.last!
    let rows = x.count / c
    var dx = Tensor(uninitialized: x.shape)
    let chunks = Swift.min(Parallel.threadCount, Swift.max(1, rows / 64))
    var partial = Tensor(zeros: [chunks, 2, c])  // per-chunk dweight, dbias
    let simd = VectorMath.vectorized && c % 8 == 0
    let pdx = dx.unsafeMutablePointer(), pp = partial.unsafeMutablePointer()
    withExtendedLifetime((dy, x, weight, cache.mean, cache.rstd)) {
      let pdy = dy.unsafePointer, px = x.unsafePointer, pw = weight.unsafePointer
      let pm = cache.mean.unsafePointer, pr = cache.rstd.unsafePointer
      Parallel.forRanges(chunks, grain: 1) { cr in
        for chunk in cr {
          let lo = rows * chunk / chunks, hi = rows * (chunk + 1) / chunks
          let dw = pp + chunk * 2 * c, db = dw + c
          for row in lo..<hi {
            backwardRow(pdy + row * c, x: px + row * c, weight: pw, mean: pm[row], rstd: pr[row], dx: pdx + row * c, c: c,
                        accumulate: false, simd: simd, dWeight: dw, dBias: db)
          }
        }
      }
    }
    let sums = partial.sum(axis: 0)  // [2, C]
    return (dx, sums.slice(axis: 0, 0..<1).reshaped([c]), sums.slice(axis: 0, 1..<2).reshaped([c]))
  }

  /// One row of the forward pass on raw pointers: y = (x − mean)·rstd·w + b over `c` values (y = x̂ when
  /// `weight` and `bias` are nil); returns (mean, rstd). `simd` takes the 8-lane path (`c` a multiple of 8),
  /// otherwise scalar loops; the two differ in the order of the row sums. Every LayerNorm forward of the
  /// toolkit (the autograd node, the models' hand-written paths, the Jacobian term's statistics) runs this.
  @inline(__always)
  public static func forwardRow(_ xr: UnsafePointer<Float>, _ yr: UnsafeMutablePointer<Float>, weight pw: UnsafePointer<Float>?,
                                bias pb: UnsafePointer<Float>?, c: Int, eps: Float, simd: Bool) -> (mean: Float, rstd: Float) {
    let m: Float, rs: Float
    if simd {
      var sv = VectorMath.V()
      for j in stride(from: 0, to: c, by: 8) { sv += VectorMath.load(xr + j) }
      m = sv.sum() / Float(c)
      let mv = VectorMath.V(repeating: m)
      var vv = VectorMath.V()
      for j in stride(from: 0, to: c, by: 8) { let d = VectorMath.load(xr + j) - mv; vv += d * d }
      rs = 1 / (vv.sum() / Float(c) + eps).squareRoot()
      let rv = VectorMath.V(repeating: rs)
      if let pw, let pb {
        for j in stride(from: 0, to: c, by: 8) {
          VectorMath.store((VectorMath.load(xr + j) - mv) * rv * VectorMath.load(pw + j) + VectorMath.load(pb + j), yr + j)
        }
      } else {
        for j in stride(from: 0, to: c, by: 8) { VectorMath.store((VectorMath.load(xr + j) - mv) * rv, yr + j) }
      }
    } else {
      var s: Float = 0
      for j in 0..<c { s += xr[j] }
      m = s / Float(c)
      var v: Float = 0
      for j in 0..<c { let d = xr[j] - m; v += d * d }
      rs = 1 / (v / Float(c) + eps).squareRoot()
      if let pw, let pb {
        for j in 0..<c { yr[j] = (xr[j] - m) * rs * pw[j] + pb[j] }
      } else {
        for j in 0..<c { yr[j] = (xr[j] - m) * rs }
      }
    }
    return (m, rs)
  }

  /// One row of the backward pass on raw pointers: dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w,
  /// x̂ = (x − mean)·rstd (added to dx when `accumulate`); when given, dWeight += dy⊙x̂ and dBias += dy.
  /// `simd` as in `forwardRow`. The autograd node and the attribution paths' vector-Jacobian products run this.
  @inline(__always)
  public static func backwardRow(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight pw: UnsafePointer<Float>,
                                 mean m: Float, rstd rs: Float, dx o: UnsafeMutablePointer<Float>, c: Int, accumulate: Bool,
                                 simd: Bool, dWeight dw: UnsafeMutablePointer<Float>? = nil, dBias db: UnsafeMutablePointer<Float>? = nil) {
    if simd {
      let mv = VectorMath.V(repeating: m), rv = VectorMath.V(repeating: rs)
      var sd = VectorMath.V(), sdx = VectorMath.V()
      for j in stride(from: 0, to: c, by: 8) {
        let gv = VectorMath.load(dy + j)
        let xh = (VectorMath.load(x + j) - mv) * rv
        let dn = gv * VectorMath.load(pw + j)
        sd += dn
        sdx += dn * xh
        if let dw, let db {
          VectorMath.store(VectorMath.load(dw + j) + gv * xh, dw + j)
          VectorMath.store(VectorMath.load(db + j) + gv, db + j)
        }
      }
      let mDn = VectorMath.V(repeating: sd.sum() / Float(c)), mDnX = VectorMath.V(repeating: sdx.sum() / Float(c))
      for j in stride(from: 0, to: c, by: 8) {
        let xh = (VectorMath.load(x + j) - mv) * rv
        var v = (VectorMath.load(dy + j) * VectorMath.load(pw + j) - mDn - xh * mDnX) * rv
        if accumulate { v += VectorMath.load(o + j) }
        VectorMath.store(v, o + j)
      }
      return
    }
    var sumDn: Float = 0, sumDnX: Float = 0
    for j in 0..<c {
      let dn = dy[j] * pw[j]
      sumDn += dn
      sumDnX += dn * (x[j] - m) * rs
    }
    if let dw, let db {
      for j in 0..<c {
        dw[j] += dy[j] * ((x[j] - m) * rs)
        db[j] += dy[j]
      }
    }
    let mDn = sumDn / Float(c), mDnX = sumDnX / Float(c)
    for j in 0..<c {
      let v = (dy[j] * pw[j] - mDn - (x[j] - m) * rs * mDnX) * rs
      o[j] = accumulate ? o[j] + v : v
    }
  }

  /// Plain reference forward in Double.
  public static func referenceForward(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Double = 1e-5) -> Tensor {
    let c = x.shape.last!
    let xs = x.scalars, w = weight.scalars, b = bias.scalars
    var out = [Float](repeating: 0, count: xs.count)
    for row in 0..<(xs.count / c) {
      let r = (0..<c).map { Double(xs[row * c + $0]) }
      let m = r.reduce(0, +) / Double(c)
      let v = r.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(c)
      for j in 0..<c { out[row * c + j] = Float((r[j] - m) / (v + eps).squareRoot() * Double(w[j]) + Double(b[j])) }
    }
    return Tensor(shape: x.shape, scalars: out)
  }

  /// Plain reference backward in Double.
  public static func referenceBackward(_ dy: Tensor, x: Tensor, weight: Tensor, eps: Double = 1e-5) -> (Tensor, Tensor, Tensor) {
    let c = x.shape.last!
    let xs = x.scalars, g = dy.scalars, w = weight.scalars
    var dx = [Float](repeating: 0, count: xs.count)
    var dw = [Double](repeating: 0, count: c), db = [Double](repeating: 0, count: c)
    for row in 0..<(xs.count / c) {
      let r = (0..<c).map { Double(xs[row * c + $0]) }
      let m = r.reduce(0, +) / Double(c)
      let v = r.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(c)
      let rs = 1 / (v + eps).squareRoot()
      let xh = r.map { ($0 - m) * rs }
      let dn = (0..<c).map { Double(g[row * c + $0]) * Double(w[$0]) }
      let mDn = dn.reduce(0, +) / Double(c)
      let mDnX = zip(dn, xh).map { $0 * $1 }.reduce(0, +) / Double(c)
      for j in 0..<c {
        dx[row * c + j] = Float((dn[j] - mDn - xh[j] * mDnX) * rs)
        dw[j] += Double(g[row * c + j]) * xh[j]
        db[j] += Double(g[row * c + j])
      }
    }
    return (Tensor(shape: x.shape, scalars: dx), Tensor(dw.map { Float($0) }), Tensor(db.map { Float($0) }))
  }
}
