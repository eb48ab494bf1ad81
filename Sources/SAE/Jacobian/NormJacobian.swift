import Autograd
import Foundation
import GPT
import Tensor

/// The Jacobian of a GPT block's ln_2 at clean activations, in the factored forms the Jacobian sparsity
/// kernel uses, plus the dense per-token matrix (for tests and references).
///
/// LayerNorm: ∂y/∂x = diag(w)·rstd·(I − 11ᵀ/C − x̂x̂ᵀ/C), x̂ = (x − mean)·rstd, rstd = 1/√(var + eps)
/// (a rank-2 correction of a diagonal). DynamicTanh: diag(γ·α·(1 − tanh²(α·x))). Identity: I.
public enum NormJacobian {
  /// Row statistics of a LayerNorm input x [N, C]: x̂ [N, C] and rstd [N].
  public static func layerNormStatistics(_ x: Tensor, eps: Float) -> (xHat: Tensor, rstd: Tensor) {
    let c = x.shape.last!, n = x.count / c
    var xHat = Tensor(uninitialized: [n, c]), rstd = Tensor(uninitialized: [n])
    let ph = xHat.unsafeMutablePointer(), pr = rstd.unsafeMutablePointer()
    withExtendedLifetime(x) {
      let px = x.unsafePointer
      Parallel.forRanges(n, grain: Swift.max(1, 16384 / c)) { r in
        for row in r {
          let xr = px + row * c, hr = ph + row * c
          var s: Float = 0
          for e in 0..<c { s += xr[e] }
          let mean = s / Float(c)
          var v: Float = 0
          for e in 0..<c { let d = xr[e] - mean; v += d * d }
          let rs = 1 / (v / Float(c) + eps).squareRoot()
          for e in 0..<c { hr[e] = (xr[e] - mean) * rs }
          pr[row] = rs
        }
      }
    }
    return (xHat, rstd)
  }

  /// The diagonal of DynamicTanh's Jacobian, γ·α·(1 − tanh²(α·x)), for x [N, C].
  public static func dynamicTanhDiagonal(_ x: Tensor, alpha: Float, gamma: Tensor) -> Tensor {
    let c = x.shape.last!, n = x.count / c
    precondition(gamma.shape == [c], "DynamicTanh Jacobian: γ \(gamma.shape) vs input \(x.shape)")
    var d = Tensor(uninitialized: [n, c])
    let pd = d.unsafeMutablePointer()
    withExtendedLifetime((x, gamma)) {
      let px = x.unsafePointer, pg = gamma.unsafePointer
      for row in 0..<n {
        for e in 0..<c {
          let t = tanhf(alpha * px[row * c + e])
          pd[row * c + e] = pg[e] * alpha * (1 - t * t)
        }
      }
    }
    return d
  }

  /// The dense Jacobian ∂norm(x)/∂x [C, C] (rows: outputs) of `norm` at one row x [C].
  public static func dense(_ norm: any Normalization, at x: Tensor) -> Tensor {
    let c = x.count
    let row = x.reshaped([1, c])
    var out = Tensor(zeros: [c, c])
    switch norm {
    case let ln as LayerNorm:
      let (xHat, rstd) = layerNormStatistics(row, eps: ln.eps)
      let w = ln.weight.value, rs = rstd.scalars[0], xh = xHat.scalars
      for i in 0..<c {
        for j in 0..<c {
          out[i, j] = w.scalars[i] * rs * ((i == j ? 1 : 0) - 1 / Float(c) - xh[i] * xh[j] / Float(c))
        }
      }
    case let dyt as DynamicTanh:
      let d = dynamicTanhDiagonal(row, alpha: dyt.alpha.value.scalars[0], gamma: dyt.gamma.value).scalars
      for i in 0..<c { out[i, i] = d[i] }
    case is IdentityNorm:
      for i in 0..<c { out[i, i] = 1 }
    default:
      preconditionFailure("no Jacobian for normalisation \(type(of: norm))")
    }
    return out
  }
}
