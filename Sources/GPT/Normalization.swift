import Autograd
import Foundation
import Tensor

/// A normalisation layer inside the GPT (LayerNorm, DynamicTanh or none).
///
/// Besides the differentiable forward, every normalisation states its math in closed form (`form`): the
/// pointer-level forward and vector-Jacobian product that hand-written paths (attribution, ablation) run,
/// and the structure of its Jacobian that the Jacobian sparsity term factors. Code that needs the math
/// switches over the form, never over the layer's type.
public protocol Normalization: Module {
  /// Applies the normalisation over the last axis.
  func callAsFunction(_ x: Variable) -> Variable
  /// The normalisation at its current parameter values, in closed form.
  var form: NormalizationForm { get }
}

/// A normalisation's math with its parameter values read once: y = norm(x) over rows of C values.
public enum NormalizationForm {
  /// y = (x − mean)·rstd·weight + bias, rstd = 1/√(var + eps) (biased variance).
  case layerNorm(weight: Tensor, bias: Tensor, eps: Float)
  /// y = γ·tanh(α·x) + β.
  case dynamicTanh(alpha: Float, gamma: Tensor, beta: Tensor)
  /// y = x.
  case identity

  /// y[r] = norm(x[r]) for `rows` rows of `c` values on the calling thread; `stats` receives what `vjp` needs
  /// per row (LayerNorm: mean and rstd, 2·rows values; unused otherwise). LayerNorm takes the 8-lane path
  /// whenever `c` is a multiple of 8 (in every build).
  public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, c: Int,
                      stats: UnsafeMutablePointer<Float>) {
    switch self {
    case .layerNorm(let w, let b, let eps):
      withExtendedLifetime((w, b)) {
        let pw = w.unsafePointer, pb = b.unsafePointer
        for r in 0..<rows {
          (stats[2 * r], stats[2 * r + 1]) = LayerNormKernel.forwardRow(x + r * c, y + r * c, weight: pw, bias: pb, c: c,
                                                                      eps: eps, simd: c % 8 == 0)
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

  /// dx = J(x)ᵀ·dy for one row of `c` values (added to dx when `accumulate`); `stats` is the row's entry
  /// from `forward`. The exact Jacobian: LayerNorm's is not diagonal.
  public func vjp(x: UnsafePointer<Float>, stats: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, c: Int, accumulate: Bool) {
    switch self {
    case .layerNorm(let w, _, _):
      withExtendedLifetime(w) {
        LayerNormKernel.backwardRow(dy, x: x, weight: w.unsafePointer, mean: stats[0], rstd: stats[1], dx: dx, c: c,
                                    accumulate: accumulate, simd: VectorMath.vectorized && c % 8 == 0)
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

  /// Row statistics of a LayerNorm input x [N, C]: x̂ = (x − mean)·rstd [N, C] and rstd [N] (scalar loops).
  public static func standardized(_ x: Tensor, eps: Float) -> (xHat: Tensor, rstd: Tensor) {
    let c = x.shape.last!, n = x.count / c
    var xHat = Tensor(uninitialized: [n, c]), rstd = Tensor(uninitialized: [n])
    let ph = xHat.unsafeMutablePointer(), pr = rstd.unsafeMutablePointer()
    withExtendedLifetime(x) {
      let px = x.unsafePointer
      Parallel.forRanges(n, grain: Swift.max(1, 16384 / c)) { r in
        for row in r {
          pr[row] = LayerNormKernel.forwardRow(px + row * c, ph + row * c, weight: nil, bias: nil, c: c, eps: eps, simd: false).rstd
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

  /// The dense Jacobian ∂norm(x)/∂x [C, C] (rows: outputs) at one row x [C]. LayerNorm:
  /// diag(w)·rstd·(I − 11ᵀ/C − x̂x̂ᵀ/C); DynamicTanh: diag(γ·α·(1 − tanh²(α·x))); identity: I.
  public func denseJacobian(at x: Tensor) -> Tensor {
    let c = x.count
    let row = x.reshaped([1, c])
    var out = Tensor(zeros: [c, c])
    switch self {
    case .layerNorm(let weight, _, let eps):
      let (xHat, rstd) = Self.standardized(row, eps: eps)
      let w = weight.scalars, rs = rstd.scalars[0], xh = xHat.scalars
      for i in 0..<c {
        for j in 0..<c {
          out[i, j] = w[i] * rs * ((i == j ? 1 : 0) - 1 / Float(c) - xh[i] * xh[j] / Float(c))
        }
      }
    case .dynamicTanh(let alpha, let gamma, _):
      let d = Self.dynamicTanhDiagonal(row, alpha: alpha, gamma: gamma).scalars
      for i in 0..<c { out[i, i] = d[i] }
    case .identity:
      for i in 0..<c { out[i, i] = 1 }
    }
    return out
  }
}

extension LayerNorm: Normalization {
  public var form: NormalizationForm { .layerNorm(weight: weight.value, bias: bias.value, eps: eps) }
}

/// DynamicTanh: γ·tanh(α·x) + β with a learned scalar α, per-channel γ (ones) and β (zeros).
public final class DynamicTanh: Normalization {
  public let alpha: Variable
  public let gamma: Variable
  public let beta: Variable

  public init(dimension: Int, alpha initialAlpha: Float) {
    alpha = Variable(Tensor([initialAlpha]), requiresGrad: true)
    gamma = Variable(Tensor.ones([dimension]), requiresGrad: true)
    beta = Variable(Tensor(zeros: [dimension]), requiresGrad: true)
  }

  public func callAsFunction(_ x: Variable) -> Variable { (x * alpha).tanh() * gamma + beta }

  public var form: NormalizationForm { .dynamicTanh(alpha: alpha.value.scalars[0], gamma: gamma.value, beta: beta.value) }

  public var namedParameters: [(String, Variable)] { [("alpha", alpha), ("gamma", gamma), ("beta", beta)] }
}

/// No normalisation (the reference's "Identity" strategy).
public final class IdentityNorm: Normalization {
  public init() {}
  public func callAsFunction(_ x: Variable) -> Variable { x }
  public var form: NormalizationForm { .identity }
  public var namedParameters: [(String, Variable)] { [] }
}
