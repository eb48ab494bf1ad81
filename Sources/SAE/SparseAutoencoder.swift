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
}

extension SparseAutoencoder {
  public func attributionBaseline(_ f: Tensor) -> Tensor { Tensor(zeros: f.shape) }
  public var topK: Int? { nil }
  public var checkpointParameters: [(String, Variable)] { namedParameters }
}
