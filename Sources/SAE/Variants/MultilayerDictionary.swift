import Autograd
import Tensor

/// The one dictionary of a `multilayer` SAE set: n·F features shared by the SAEs of n keys, where the SAE
/// at key index i uses the first (i+1)·F features.
public final class MultilayerDictionary: Module {
  /// W_dec [n·F, C].
  public let wDec: Variable
  /// W_enc [C, n·F].
  public let wEnc: Variable
  /// b_enc [n·F] (sliced by each SAE).
  public let bEnc: Variable
  /// b_dec [C] (shared by every SAE).
  public let bDec: Variable

  /// Kaiming-uniform W_dec [n·F, C] (bound √(6/C)), W_enc = W_decᵀ copy, zero biases.
  public init(featureCount: Int, embeddingSize: Int, generator: inout RandomGenerator) {
    let dec = Tensor.kaimingUniform([featureCount, embeddingSize], generator: &generator)
    wDec = Variable(dec, requiresGrad: true)
    wEnc = Variable(dec.transposed(), requiresGrad: true)
    bEnc = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [embeddingSize]), requiresGrad: true)
  }

  public var featureCount: Int { wDec.shape[0] }

  /// The dictionary's tensors with the reference's names (without the `sae.` prefix of the files).
  public var namedParameters: [(String, Variable)] {
    [("W_dec", wDec), ("W_enc", wEnc), ("b_dec", bDec), ("b_enc", bEnc)]
  }
}
