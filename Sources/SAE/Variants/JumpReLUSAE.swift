import Autograd
import Foundation
import Tensor

/// A JumpReLU sparse autoencoder (spec section 6, `jumprelu` and `jumprelu_staircase`):
/// pre = ReLU((x − b_dec)·W_enc + b_enc); f = pre·[pre > θ], θ = exp(log_threshold); x̂ = f·W_dec + b_dec;
/// sparsity = λ·mean over tokens of Σ_j H(pre_j − θ_j), with straight-through threshold gradients of
/// bandwidth ε (`JumpReLUFunctions`).
///
/// The step function is applied to `pre`, as in the JumpReLU paper (the reference applies it to f, a bug).
/// As a staircase member the SAE slices the first F features of a `JumpReLUSharedContext` and owns only
/// its biases; the group's first member also lists the context among its `namedParameters`, so that every
/// parameter of a set is listed exactly once.
public final class JumpReLUSAE: SparseAutoencoder {
  public let key: SAEKey
  public let featureCount: Int
  /// W_enc [C, F] (own) or the shared [C, F_max].
  public let wEnc: Variable
  /// W_dec [F, C] (own) or the shared [F_max, C].
  public let wDec: Variable
  public let bEnc: Variable
  public let bDec: Variable
  /// log θ [F] (own) or the shared [F_max].
  public let logThreshold: Variable
  /// The staircase context this SAE slices, if any.
  public let shared: JumpReLUSharedContext?
  /// Whether `namedParameters` includes the shared context (true for the group's first member).
  public let ownsSharedContext: Bool
  /// λ of the L0 sparsity penalty.
  public var sparsityCoefficient: Float = 0
  /// Width ε of the rectangle kernel of the threshold gradients (from the training configuration).
  public var bandwidth: Float = 0.1

  public func setBandwidth(_ bandwidth: Float) { self.bandwidth = bandwidth }

  /// An independent JumpReLU SAE: W_enc [C, F] ~ Kaiming-uniform (bound √(6/F)) drawn first,
  /// W_dec = W_encᵀ, zero biases, log_threshold = log 0.1.
  public init(key: SAEKey, featureCount: Int, embeddingSize: Int, generator: inout RandomGenerator) {
    self.key = key
    self.featureCount = featureCount
    let enc = Tensor.kaimingUniform([embeddingSize, featureCount], generator: &generator)
    wEnc = Variable(enc, requiresGrad: true)
    wDec = Variable(enc.transposed(), requiresGrad: true)
    bEnc = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [embeddingSize]), requiresGrad: true)
    logThreshold = Variable(Tensor(shape: [featureCount], repeating: Float(Foundation.log(0.1))), requiresGrad: true)
    shared = nil
    ownsSharedContext = false
  }

  /// A staircase member using the first `featureCount` features of `shared`, with zero biases.
  public init(key: SAEKey, featureCount: Int, shared: JumpReLUSharedContext, ownsSharedContext: Bool) {
    precondition(featureCount <= shared.featureCount,
                 "member size \(featureCount) exceeds the shared context \(shared.featureCount)")
    self.key = key
    self.featureCount = featureCount
    self.shared = shared
    self.ownsSharedContext = ownsSharedContext
    wEnc = shared.wEnc
    wDec = shared.wDec
    logThreshold = shared.logThreshold
    bEnc = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [shared.wEnc.shape[0]]), requiresGrad: true)
  }

  public var embeddingSize: Int { bDec.shape[0] }

  /// Independent: W_dec, W_enc, b_dec, b_enc, jumprelu.log_threshold. Member: b_dec, b_enc (and the
  /// `shared_context.*` tensors for the owning member).
  public var namedParameters: [(String, Variable)] {
    guard let shared else {
      return [("W_dec", wDec), ("W_enc", wEnc), ("b_dec", bDec), ("b_enc", bEnc), ("jumprelu.log_threshold", logThreshold)]
    }
    let own = [("b_dec", bDec), ("b_enc", bEnc)]
    return ownsSharedContext ? own + prefixed("shared_context", shared.namedParameters) : own
  }

  /// The file of a member carries its biases and the whole shared context.
  public var checkpointParameters: [(String, Variable)] {
    guard let shared else { return namedParameters }
    return [("b_dec", bDec), ("b_enc", bEnc)] + prefixed("shared_context", shared.namedParameters)
  }

  /// W_enc[:, :F] (differentiable slice for members).
  func encoderMatrix() -> Variable {
    featureCount == wEnc.shape[1] ? wEnc : wEnc.slice(axis: 1, 0..<featureCount)
  }

  /// W_dec[:F].
  func decoderMatrix() -> Variable {
    featureCount == wDec.shape[0] ? wDec : wDec.slice(axis: 0, 0..<featureCount)
  }

  /// θ = exp(log_threshold[:F]), [F].
  func threshold() -> Variable {
    (featureCount == logThreshold.shape[0] ? logThreshold : logThreshold.slice(axis: 0, 0..<featureCount)).exp()
  }

  /// ReLU((x − b_dec)·W_enc + b_enc), [..., F].
  func preActivation(_ x: Variable) -> Variable {
    (Variable.matmul(x - bDec, encoderMatrix()) + bEnc).relu()
  }

  public func encode(_ x: Variable) -> Variable {
    JumpReLUFunctions.jumpReLU(preActivation(x), threshold: threshold(), bandwidth: bandwidth)
  }

  public func decode(_ f: Variable) -> Variable {
    Variable.matmul(f, decoderMatrix()) + bDec
  }

  /// The full encoder (JumpReLU SAEs have no TopK selection to re-apply).
  public func ablationPreActivation(_ x: Variable) -> Variable { encode(x) }

  /// θ where f > 0, else 0.
  public func attributionBaseline(_ f: Tensor) -> Tensor {
    precondition(f.shape.last == featureCount, "attribution baseline: magnitudes \(f.shape) do not end in \(featureCount)")
    let logTheta = featureCount == logThreshold.shape[0] ? logThreshold.value : logThreshold.value.slice(axis: 0, 0..<featureCount)
    return JumpReLUFunctions.apply(f, Tensor(zeros: [featureCount]), indicator: true) * logTheta.unary(.exp)
  }

  public func callAsFunction(_ x: Variable) -> SAEOutput {
    let pre = preActivation(x)
    let theta = threshold()
    let f = JumpReLUFunctions.jumpReLU(pre, threshold: theta, bandwidth: bandwidth)
    let sparsity = sparsityCoefficient == 0 ? nil :
      JumpReLUFunctions.step(pre, threshold: theta, bandwidth: bandwidth).sum(axis: -1).mean() * sparsityCoefficient
    return DenseSAEOutput.make(x: x, magnitudes: f, reconstruction: decode(f), sparsity: sparsity, aux: nil)
  }

  /// `jumprelu`: one independent SAE per key, initialised in key order.
  static func independentSet(_ config: SAEConfig, _ c: Int, _ g: inout RandomGenerator) -> SAESet {
    var saes: [any SparseAutoencoder] = []
    for (i, key) in config.saeKeys.enumerated() {
      saes.append(JumpReLUSAE(key: key, featureCount: config.nFeatures[i], embeddingSize: c, generator: &g))
    }
    return SAESet(saes: saes)
  }

  /// `jumprelu_staircase`: every key slices one shared context sized for the largest SAE (the reference
  /// builds a single context for the whole model); the first member owns it.
  static func staircaseSet(_ config: SAEConfig, _ c: Int, _ g: inout RandomGenerator) -> SAESet {
    let context = JumpReLUSharedContext(featureCount: config.nFeatures.max()!, embeddingSize: c, generator: &g)
    let saes: [any SparseAutoencoder] = config.saeKeys.enumerated().map { i, key in
      JumpReLUSAE(key: key, featureCount: config.nFeatures[i], shared: context, ownsSharedContext: i == 0)
    }
    return SAESet(saes: saes)
  }
}
