import Foundation
import Autograd
import GPT
import Tensor

/// A block's normalisation layer as raw values, for hand-written forward passes and vector-Jacobian
/// products on rows of C values (the exact Jacobian: LayerNorm's is not diagonal).
enum NormOp {
  case layerNorm(weight: Tensor, bias: Tensor, eps: Float)
  case dynamicTanh(alpha: Float, gamma: Tensor, beta: Tensor)
  case identity

  init(_ norm: any Normalization) throws {
    if let ln = norm as? LayerNorm {
      self = .layerNorm(weight: ln.weight.value, bias: ln.bias.value, eps: ln.eps)
    } else if let d = norm as? DynamicTanh {
      self = .dynamicTanh(alpha: d.alpha.value.scalars[0], gamma: d.gamma.value, beta: d.beta.value)
    } else if norm is IdentityNorm {
      self = .identity
    } else {
      throw ExperimentError("unsupported normalisation layer \(type(of: norm))")
    }
  }

  /// y[r] = norm(x[r]) for `rows` rows of `c` values; `stats` receives (mean, rstd) per row (LayerNorm only,
  /// 2·rows values).
  func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, c: Int,
               stats: UnsafeMutablePointer<Float>) {
    switch self {
    case .layerNorm(let w, let b, let eps):
      withExtendedLifetime((w, b)) {
        let pw = w.unsafePointer, pb = b.unsafePointer
        if c % 8 == 0 {
          typealias V = SIMD8<Float>
          for r in 0..<rows {
            let xr = x + r * c, yr = y + r * c
            var sv = V()
            var j = 0
            while j < c { sv += VectorMath.load(xr + j); j += 8 }
            let m = sv.sum() / Float(c)
            var vv = V()
            j = 0
            while j < c { let d = VectorMath.load(xr + j) - m; vv += d * d; j += 8 }
            let rs = 1 / (vv.sum() / Float(c) + eps).squareRoot()
            j = 0
            while j < c {
              VectorMath.store((VectorMath.load(xr + j) - m) * rs * VectorMath.load(pw + j) + VectorMath.load(pb + j), yr + j)
              j += 8
            }
            stats[2 * r] = m
            stats[2 * r + 1] = rs
          }
          return
        }
        for r in 0..<rows {
          let xr = x + r * c, yr = y + r * c
          var s: Float = 0
          for j in 0..<c { s += xr[j] }
          let m = s / Float(c)
          var v: Float = 0
          for j in 0..<c { let d = xr[j] - m; v += d * d }
          let rs = 1 / (v / Float(c) + eps).squareRoot()
          for j in 0..<c { yr[j] = (xr[j] - m) * rs * pw[j] + pb[j] }
          stats[2 * r] = m
          stats[2 * r + 1] = rs
        }
      }
    case .dynamicTanh(let a, let g, let b):
      withExtendedLifetime((g, b)) {
        let pg = g.unsafePointer, pb = b.unsafePointer
        for r in 0..<rows {
          let xr = x + r * c, yr = y + r * c
          for j in 0..<c { yr[j] = tanhf(xr[j] * a) * pg[j] + pb[j] }
        }
      }
    case .identity:
      y.update(from: x, count: rows * c)
    }
  }

  /// dx = J(x)ᵀ·dy for one row (added to dx when `accumulate`); `stats` is the row's (mean, rstd).
  func vjp(x: UnsafePointer<Float>, stats: UnsafePointer<Float>, dy: UnsafePointer<Float>,
           dx: UnsafeMutablePointer<Float>, c: Int, accumulate: Bool) {
    switch self {
    case .layerNorm(let w, _, _):
      withExtendedLifetime(w) {
        let pw = w.unsafePointer
        let m = stats[0], rs = stats[1]
        if VectorMath.vectorized && c % 8 == 0 {
          // SIMD lanes: dx = rs·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = (x − m)·rs.
          typealias V = SIMD8<Float>
          var sg = V(), sgx = V()
          var j = 0
          while j < c {
            let g = VectorMath.load(dy + j) * VectorMath.load(pw + j)
            sg += g
            sgx += g * ((VectorMath.load(x + j) - m) * rs)
            j += 8
          }
          let meanG = sg.sum() / Float(c), meanGX = sgx.sum() / Float(c)
          j = 0
          while j < c {
            let g = VectorMath.load(dy + j) * VectorMath.load(pw + j)
            let xh = (VectorMath.load(x + j) - m) * rs
            var v = (g - meanG - xh * meanGX) * rs
            if accumulate { v += VectorMath.load(dx + j) }
            VectorMath.store(v, dx + j)
            j += 8
          }
          return
        }
        var sumG: Float = 0, sumGX: Float = 0
        for j in 0..<c {
          let g = dy[j] * pw[j]
          sumG += g
          sumGX += g * (x[j] - m) * rs
        }
        let meanG = sumG / Float(c), meanGX = sumGX / Float(c)
        for j in 0..<c {
          let v = rs * (dy[j] * pw[j] - meanG - (x[j] - m) * rs * meanGX)
          dx[j] = accumulate ? dx[j] + v : v
        }
      }
    case .dynamicTanh(let a, let g, _):
      withExtendedLifetime(g) {
        let pg = g.unsafePointer
        for j in 0..<c {
          let t = tanhf(x[j] * a)
          let v = dy[j] * pg[j] * a * (1 - t * t)
          dx[j] = accumulate ? dx[j] + v : v
        }
      }
    case .identity:
      for j in 0..<c { dx[j] = accumulate ? dx[j] + dy[j] : dy[j] }
    }
  }
}
