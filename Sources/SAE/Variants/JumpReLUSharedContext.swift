import Autograd
import Foundation
import Tensor

/// The parameters a `jumprelu_staircase` group shares, sized for its largest member: member m uses the
/// first F_m features of W_enc, W_dec and log_threshold. Every member's `sae.{idx}.safetensors` carries
/// the whole context under `shared_context.*` names, as the reference writes it.
///
/// `b_enc` and `b_dec` exist only because the reference's shared context declares them: no member reads
/// them (each member has its own biases), so they keep their initial zeros unless a file sets them, and
/// they are saved and loaded unchanged.
public final class JumpReLUSharedContext: Module {
  /// W_dec [F_max, C].
  public let wDec: Variable
  /// W_enc [C, F_max].
  public let wEnc: Variable
  /// Unused by the members; [C].
  public let bDec: Variable
  /// Unused by the members; [F_max].
  public let bEnc: Variable
  /// log θ [F_max].
  public let logThreshold: Variable

  /// Kaiming-uniform W_dec [F_max, C] (bound √(6/C)) drawn first, W_enc = W_decᵀ, zero biases,
  /// log_threshold = log 0.1.
  public init(featureCount: Int, embeddingSize: Int, generator: inout RandomGenerator) {
    let dec = Tensor.kaimingUniform([featureCount, embeddingSize], generator: &generator)
    wDec = Variable(dec, requiresGrad: true)
    wEnc = Variable(dec.transposed(), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [embeddingSize]), requiresGrad: true)
    bEnc = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    logThreshold = Variable(Tensor(shape: [featureCount], repeating: Float(Foundation.log(0.1))), requiresGrad: true)
  }

  public var featureCount: Int { wDec.shape[0] }

  /// The context's tensors with the reference's names (without the `shared_context.` prefix).
  public var namedParameters: [(String, Variable)] {
    [("W_dec", wDec), ("W_enc", wEnc), ("b_dec", bDec), ("b_enc", bEnc), ("log_threshold", logThreshold)]
  }
}
