import Autograd
import GPT
import Tensor

/// A sparse autoencoder attached at one SAE key.
///
/// `namedParameters` lists the SAE's own parameters with the reference's names (those saved in
/// `sae.{idx}.safetensors`); parameters shared by a staircase group belong to its `SharedDictionary`.
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
}

extension SparseAutoencoder {
  public func attributionBaseline(_ f: Tensor) -> Tensor { Tensor(zeros: f.shape) }
  public var topK: Int? { nil }
}
