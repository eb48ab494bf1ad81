import Autograd
import Foundation
import GPT
import Tensor

/// A plain, dense, double-precision evaluation of the Jacobian sparsity term (for tests): per token it
/// forms the C×C map W_cproj · diag(gelu′(h)) · W_cfc · J_norm explicitly and contracts it with the
/// active decoder rows and encoder columns. Slow by design; the weights are plain arrays so that tests
/// can perturb them for finite differences.
public struct JacobianReference {
  /// The normalisation between the pair's input and the MLP.
  public enum Norm {
    /// FF layer: the input is the MLP input itself, and there is no skip path.
    case ffLayer
    /// FF block without normalisation.
    case identity
    /// FF block through LayerNorm(weight, bias, eps).
    case layerNorm(weight: [Double], bias: [Double], eps: Double)
    /// FF block through DynamicTanh γ·tanh(α·x) + β.
    case dynamicTanh(alpha: Double, gamma: [Double], beta: [Double])
  }

  public var embedding: Int
  public var hidden: Int
  public var featuresIn: Int
  public var featuresOut: Int
  public var kIn: Int
  public var kOut: Int
  public var tokens: Int
  /// W_dec of the input SAE, [F_in, C].
  public var wDecIn: [Double]
  /// W_enc of the output SAE, [C, F_out].
  public var wEncOut: [Double]
  /// c_fc weight [H, C] and bias [H].
  public var wFc: [Double]
  public var bFc: [Double]
  /// c_proj weight [C, H].
  public var wProj: [Double]
  /// The clean input of the pair, [N, C] (MLP input or resid_mid).
  public var input: [Double]
  public var norm: Norm
  /// Top-k indices, [N, k_in] and [N, k_out].
  public var inIndices: [Int]
  public var outIndices: [Int]

  /// The reference problem of an FF-layer pair.
  public static func ffLayer(inSAE: TopKSAE, outSAE: TopKSAE, mlp: MLP, cleanMLPInput: Tensor,
                             inIndices: IntTensor, outIndices: IntTensor) -> JacobianReference {
    make(inSAE, outSAE, mlp, cleanMLPInput, inIndices, outIndices, norm: .ffLayer)
  }

  /// The reference problem of an FF-block pair.
  public static func ffBlock(inSAE: TopKSAE, outSAE: TopKSAE, block: Block, cleanResidMid: Tensor,
                             inIndices: IntTensor, outIndices: IntTensor) -> JacobianReference {
    let norm: Norm
    switch block.ln2.form {
    case .layerNorm(let weight, let bias, let eps):
      norm = .layerNorm(weight: doubles(weight), bias: doubles(bias), eps: Double(eps))
    case .dynamicTanh(let alpha, let gamma, let beta):
      norm = .dynamicTanh(alpha: Double(alpha), gamma: doubles(gamma), beta: doubles(beta))
    case .identity:
      norm = .identity
    }
    return make(inSAE, outSAE, block.mlp, cleanResidMid, inIndices, outIndices, norm: norm)
  }

  static func make(_ inSAE: TopKSAE, _ outSAE: TopKSAE, _ mlp: MLP, _ x: Tensor, _ inIndices: IntTensor, _ outIndices: IntTensor,
                   norm: Norm) -> JacobianReference {
    let c = inSAE.embeddingSize
    return JacobianReference(
      embedding: c, hidden: mlp.cFc.weight.shape[0], featuresIn: inSAE.wDec.shape[0], featuresOut: outSAE.wEnc.shape[1],
      kIn: inSAE.k, kOut: outSAE.k, tokens: x.count / c, wDecIn: doubles(inSAE.wDec.value), wEncOut: doubles(outSAE.wEnc.value),
      wFc: doubles(mlp.cFc.weight.value), bFc: mlp.cFc.bias.map { doubles($0.value) } ?? [Double](repeating: 0, count: mlp.cFc.weight.shape[0]),
      wProj: doubles(mlp.cProj.weight.value), input: doubles(x), norm: norm,
      inIndices: inIndices.scalars.map(Int.init), outIndices: outIndices.scalars.map(Int.init))
  }

  static func doubles(_ t: Tensor) -> [Double] { t.scalars.map(Double.init) }

  /// tanh-GELU derivative in double precision.
  public static func geluDerivative(_ x: Double) -> Double {
    let c = (2 / Double.pi).squareRoot(), a = 0.044715
    let t = Foundation.tanh(c * (x + a * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x)
  }

  /// The norm's output z [C] and dense Jacobian ∂z/∂x [C, C] at one input row x.
  func normalise(_ x: ArraySlice<Double>) -> (z: [Double], jacobian: [Double]) {
    let c = embedding
    let xs = Array(x)
    var jac = [Double](repeating: 0, count: c * c)
    switch norm {
    case .ffLayer, .identity:
      for i in 0..<c { jac[i * c + i] = 1 }
      return (xs, jac)
    case .layerNorm(let w, let b, let eps):
      let mean = xs.reduce(0, +) / Double(c)
      let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(c)
      let rstd = 1 / (variance + eps).squareRoot()
      let xHat = xs.map { ($0 - mean) * rstd }
      for i in 0..<c {
        for j in 0..<c {
          jac[i * c + j] = w[i] * rstd * ((i == j ? 1 : 0) - 1 / Double(c) - xHat[i] * xHat[j] / Double(c))
        }
      }
      return ((0..<c).map { xHat[$0] * w[$0] + b[$0] }, jac)
    case .dynamicTanh(let alpha, let gamma, let beta):
      var z = [Double](repeating: 0, count: c)
      for i in 0..<c {
        let t = Foundation.tanh(alpha * xs[i])
        z[i] = gamma[i] * t + beta[i]
        jac[i * c + i] = gamma[i] * alpha * (1 - t * t)
      }
      return (z, jac)
    }
  }

  /// Every token's Jacobian, [N, k_out, k_in] row-major.
  public func jacobians() -> [Double] {
    let c = embedding, h = hidden
    var out = [Double](repeating: 0, count: tokens * kOut * kIn)
    for t in 0..<tokens {
      let (z, jn) = normalise(input[(t * c)..<((t + 1) * c)])
      var g = [Double](repeating: 0, count: h)
      for m in 0..<h {
        var s = bFc[m]
        for e in 0..<c { s += wFc[m * c + e] * z[e] }
        g[m] = Self.geluDerivative(s)
      }
      // fcn = W_cfc · J_norm [H, C]; M = W_cproj · diag(g) · fcn [C, C]
      var fcn = [Double](repeating: 0, count: h * c)
      for m in 0..<h {
        for e in 0..<c {
          var s = 0.0
          for l in 0..<c { s += wFc[m * c + l] * jn[l * c + e] }
          fcn[m * c + e] = s
        }
      }
      var mm = [Double](repeating: 0, count: c * c)
      for r in 0..<c {
        for e in 0..<c {
          var s = 0.0
          for m in 0..<h { s += wProj[r * h + m] * g[m] * fcn[m * c + e] }
          mm[r * c + e] = s + (norm.hasSkip && r == e ? 1 : 0)
        }
      }
      for a in 0..<kOut {
        let o = outIndices[t * kOut + a]
        for b in 0..<kIn {
          let i = inIndices[t * kIn + b]
          var s = 0.0
          for r in 0..<c {
            for e in 0..<c { s += wEncOut[r * featuresOut + o] * mm[r * c + e] * wDecIn[i * c + e] }
          }
          out[(t * kOut + a) * kIn + b] = s
        }
      }
    }
    return out
  }

  /// J_total = Σ_t Σ_ab |J_t[a, b]| / k_in².
  public func total() -> Double {
    jacobians().reduce(0) { $0 + Swift.abs($1) } / Double(kIn * kIn)
  }
}

extension JacobianReference.Norm {
  /// Whether the map has the residual skip (FF block).
  var hasSkip: Bool {
    if case .ffLayer = self { return false }
    return true
  }
}
