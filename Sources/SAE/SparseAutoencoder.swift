import Autograd
import GPT
import Tensor

/// A sparse autoencoder attached at one SAE key.
///
/// `namedParameters` lists the parameters the SAE owns, with the reference's names; across a set every
/// parameter is listed exactly once (TopK staircase matrices belong to their `SharedDictionary`; a JumpReLU
/// staircase context or a multilayer dictionary is listed by the set's first SAE).
/// `checkpointParameters` lists what the SAE's `sae.{idx}.safetensors` holds — by default the same pairs;
/// JumpReLU staircase members and multilayer SAEs also carry the tensors they share.
public protocol SparseAutoencoder: Module {
  /// Where the SAE reads the GPT.
  var key: SAEKey { get }
  /// Dictionary size F.
  var featureCount: Int { get }
  /// Activation width C.
  var embeddingSize: Int { get }
  /// Coefficient of the sparsity penalty (ignored by TopK variants).
  var sparsityCoefficient: Float { get set }

  /// Reconstruction, magnitudes and loss components for activations x [..., C].
  func callAsFunction(_ x: Variable) -> SAEOutput
  /// The full encoder as differentiable operations: x [..., C] → magnitudes [..., F].
  func encode(_ x: Variable) -> Variable
  /// The decoder: magnitudes [..., F] → x̂ [..., C].
  func decode(_ f: Variable) -> Variable
  /// What edge ablation assembles for kept downstream features: the encoder pre-activation
  /// (x − b_dec)·W_enc + b_enc without ReLU for TopK SAEs; the full encoder otherwise.
  func ablationPreActivation(_ x: Variable) -> Variable
  /// Integrated-gradients baseline for magnitudes f [..., F] (zero except for JumpReLU: θ where f > 0).
  func attributionBaseline(_ f: Tensor) -> Tensor
  /// k for TopK variants, nil otherwise.
  var topK: Int? { get }
  /// The (name, parameter) pairs of this SAE's `sae.{idx}.safetensors`, read and written by
  /// `SAECheckpoint` (default: `namedParameters`).
  var checkpointParameters: [(String, Variable)] { get }
  /// The SAE's TopK form when it is a TopK SAE (its affine encoder and decoder, which analytic code —
  /// the Jacobian term, attribution and ablation — works on directly); nil otherwise (default).
  var topKForm: TopKForm? { get }
  /// Every parameter the SAE computes with, own and shared, each once (default: `checkpointParameters`
  /// plus the TopK form's matrices): what freezing the SAE freezes.
  var parametersInUse: [Variable] { get }
  /// Sets the bandwidth of a straight-through estimator (JumpReLU's); ignored by SAEs without one (default).
  func setBandwidth(_ bandwidth: Float)
}

/// A TopK SAE's parameters as its math uses them: f = TopK_k(ReLU((x − b_dec)·W_enc[:, :F] + b_enc)),
/// x̂ = f·W_dec[:F] + b_dec. W_enc [C, F_max] and W_dec [F_max, C] are the SAE's own or its staircase
/// group's shared matrices (F ≤ F_max features used).
public struct TopKForm {
  public let wEnc: Variable
  public let wDec: Variable
  public let bEnc: Variable
  public let bDec: Variable
  public let k: Int
  /// F, the features this SAE uses.
  public let featureCount: Int
  /// Features whose shared weights the SAE trains (nil: all it uses).
  public let trainableFeatures: Range<Int>?

  public var embeddingSize: Int { bDec.shape[0] }
  /// W_dec[:F] [F, C].
  public var decoderMatrix: Tensor { wDec.shape[0] == featureCount ? wDec.value : wDec.value.slice(axis: 0, 0..<featureCount) }
  /// W_enc[:, :F] [C, F].
  public var encoderMatrix: Tensor { wEnc.shape[1] == featureCount ? wEnc.value : wEnc.value.slice(axis: 1, 0..<featureCount) }
}

extension SparseAutoencoder {
  public func attributionBaseline(_ f: Tensor) -> Tensor { Tensor(zeros: f.shape) }
  public var topK: Int? { nil }
  public var checkpointParameters: [(String, Variable)] { namedParameters }
  public var topKForm: TopKForm? { nil }
  public func setBandwidth(_ bandwidth: Float) {}
  public var parametersInUse: [Variable] {
    var out: [Variable] = []
    for p in checkpointParameters.map(\.1) + [topKForm?.wEnc, topKForm?.wDec].compactMap({ $0 })
      where !out.contains(where: { $0 === p }) { out.append(p) }
    return out
  }
}
