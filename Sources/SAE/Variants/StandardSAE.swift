import Autograd
import Tensor

/// The `standard` SAE (Anthropic's April 2024 update) and its tied `standard_v2`:
/// f = ReLU((x − b_dec)·W_enc + b_enc); x̂ = f·W_dec + b_dec;
/// sparsity = λ·mean over tokens of Σ_j f_j·‖W_dec[j]‖₂ (gradients flow through the decoder norms).
/// `standard_v2` ties W_enc = W_decᵀ and has no encoder matrix of its own.
public final class StandardSAE: SparseAutoencoder {
  public let key: SAEKey
  public let featureCount: Int
  /// W_dec [F, C].
  public let wDec: Variable
  /// W_enc [C, F]; nil when tied to W_decᵀ (`standard_v2`).
  public let wEnc: Variable?
  public let bEnc: Variable
  public let bDec: Variable
  /// λ of the sparsity penalty.
  public var sparsityCoefficient: Float = 0

  /// W_dec ~ Kaiming-uniform [F, C] (bound √(6/C)), W_enc = W_decᵀ copy unless `tied`, zero biases.
  public init(key: SAEKey, featureCount: Int, embeddingSize: Int, tied: Bool, generator: inout RandomGenerator) {
    self.key = key
    self.featureCount = featureCount
    let dec = Tensor.kaimingUniform([featureCount, embeddingSize], generator: &generator)
    wDec = Variable(dec, requiresGrad: true)
    wEnc = tied ? nil : Variable(dec.transposed(), requiresGrad: true)
    bEnc = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [embeddingSize]), requiresGrad: true)
  }

  public var embeddingSize: Int { bDec.shape[0] }
  /// Whether W_enc is tied to W_decᵀ.
  public var isTied: Bool { wEnc == nil }

  /// W_dec, W_enc (untied only), b_dec, b_enc.
  public var namedParameters: [(String, Variable)] {
    if let wEnc { return [("W_dec", wDec), ("W_enc", wEnc), ("b_dec", bDec), ("b_enc", bEnc)] }
    return [("W_dec", wDec), ("b_dec", bDec), ("b_enc", bEnc)]
  }

  public func encode(_ x: Variable) -> Variable {
    let centered = x - bDec
    let pre = wEnc.map { Variable.matmul(centered, $0) } ?? Variable.matmul(centered, wDec, transposeB: true)
    return (pre + bEnc).relu()
  }

  public func decode(_ f: Variable) -> Variable {
    Variable.matmul(f, wDec) + bDec
  }

  /// The full encoder.
  public func ablationPreActivation(_ x: Variable) -> Variable { encode(x) }

  public func callAsFunction(_ x: Variable) -> SAEOutput {
    let f = encode(x)
    let sparsity = sparsityCoefficient == 0 ? nil :
      DenseSAEOutput.weightedL1(f, decoderNorms: wDec.l2Norm(axis: 1), coefficient: sparsityCoefficient)
    return DenseSAEOutput.make(x: x, magnitudes: f, reconstruction: decode(f), sparsity: sparsity, aux: nil)
  }

  /// One independent SAE per key, initialised in key order.
  static func set(_ config: SAEConfig, _ c: Int, _ g: inout RandomGenerator, tied: Bool) -> SAESet {
    var saes: [any SparseAutoencoder] = []
    for (i, key) in config.saeKeys.enumerated() {
      saes.append(StandardSAE(key: key, featureCount: config.nFeatures[i], embeddingSize: c, tied: tied, generator: &g))
    }
    return SAESet(saes: saes)
  }
}
