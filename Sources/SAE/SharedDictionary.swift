import Autograd
import Tensor

/// The encoder and decoder matrices a staircase group shares, sized for its largest member: member m uses
/// the first F_m features (W_enc[:, :F_m], W_dec[:F_m]). Saved as `sae.shared.{group}.safetensors`.
public final class SharedDictionary: Module {
  /// Group number g (0 for the transformer-block group, the layer for FF-block pairs).
  public let group: Int
  /// W_enc [C, F_max].
  public let wEnc: Variable
  /// W_dec [F_max, C].
  public let wDec: Variable

  /// Kaiming-uniform W_dec [F_max, C] (bound √(6/C)) drawn first, W_enc = W_decᵀ.
  public init(group: Int, featureCount: Int, embeddingSize: Int, generator: inout RandomGenerator) {
    self.group = group
    let dec = Tensor.kaimingUniform([featureCount, embeddingSize], generator: &generator)
    wDec = Variable(dec, requiresGrad: true)
    wEnc = Variable(dec.transposed(), requiresGrad: true)
  }

  public var featureCount: Int { wDec.shape[0] }

  public var namedParameters: [(String, Variable)] { [("W_dec", wDec), ("W_enc", wEnc)] }
}
