import Autograd
import Tensor

/// The `gated` SAE (Rajamanoharan et al. 2024) with the RI-L1 penalty, and its tied `gated_v2`:
/// x_enc = (x − b_dec)·W_gate; π_gate = x_enc + b_gate; f = [π_gate > 0]·ReLU(x_enc·exp(r_mag) + b_mag);
/// x̂ = f·W_dec + b_dec.
/// sparsity = λ·mean over tokens of Σ_j ReLU(π_gate)_j·‖W_dec[j]‖₂ with the decoder norms detached;
/// aux = mean over tokens of ‖x − (ReLU(π_gate)·W_dec + b_dec)‖² with W_dec and b_dec detached.
/// `gated_v2` ties W_gate = W_decᵀ and fixes r_mag = 0 (neither is stored).
public final class GatedSAE: SparseAutoencoder {
  public let key: SAEKey
  public let featureCount: Int
  /// W_dec [F, C].
  public let wDec: Variable
  /// W_gate [C, F]; nil when tied to W_decᵀ (`gated_v2`).
  public let wGate: Variable?
  public let bGate: Variable
  public let bMag: Variable
  /// r_mag [F]; nil when fixed at 0 (`gated_v2`).
  public let rMag: Variable?
  public let bDec: Variable
  /// λ of the sparsity penalty.
  public var sparsityCoefficient: Float = 0

  /// W_dec ~ Kaiming-uniform [F, C] (bound √(6/C)); unless `tied`, W_gate = W_decᵀ copy and r_mag = 0;
  /// zero biases.
  public init(key: SAEKey, featureCount: Int, embeddingSize: Int, tied: Bool, generator: inout RandomGenerator) {
    self.key = key
    self.featureCount = featureCount
    let dec = Tensor.kaimingUniform([featureCount, embeddingSize], generator: &generator)
    wDec = Variable(dec, requiresGrad: true)
    wGate = tied ? nil : Variable(dec.transposed(), requiresGrad: true)
    rMag = tied ? nil : Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bGate = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bMag = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [embeddingSize]), requiresGrad: true)
  }

  public var embeddingSize: Int { bDec.shape[0] }
  /// Whether W_gate is tied to W_decᵀ (and r_mag fixed at 0).
  public var isTied: Bool { wGate == nil }

  /// W_dec, W_gate, b_dec, b_gate, b_mag, r_mag (untied) or W_dec, b_dec, b_gate, b_mag (tied).
  public var namedParameters: [(String, Variable)] {
    if let wGate, let rMag {
      return [("W_dec", wDec), ("W_gate", wGate), ("b_dec", bDec), ("b_gate", bGate), ("b_mag", bMag), ("r_mag", rMag)]
    }
    return [("W_dec", wDec), ("b_dec", bDec), ("b_gate", bGate), ("b_mag", bMag)]
  }

  /// (x_enc, π_gate), both [..., F].
  func gatePreActivations(_ x: Variable) -> (encoded: Variable, piGate: Variable) {
    let centered = x - bDec
    let encoded = wGate.map { Variable.matmul(centered, $0) } ?? Variable.matmul(centered, wDec, transposeB: true)
    return (encoded, encoded + bGate)
  }

  /// f = [π_gate > 0]·ReLU(x_enc·exp(r_mag) + b_mag); the gate passes no gradient.
  func magnitudes(encoded: Variable, piGate: Variable) -> Variable {
    let scaled = rMag.map { encoded * $0.exp() } ?? encoded
    return (scaled + bMag).relu().masked(by: piGate.value.greater(than: 0))
  }

  public func encode(_ x: Variable) -> Variable {
    let (encoded, piGate) = gatePreActivations(x)
    return magnitudes(encoded: encoded, piGate: piGate)
  }

  public func decode(_ f: Variable) -> Variable {
    Variable.matmul(f, wDec) + bDec
  }

  /// The full encoder.
  public func ablationPreActivation(_ x: Variable) -> Variable { encode(x) }

  public func callAsFunction(_ x: Variable) -> SAEOutput {
    let (encoded, piGate) = gatePreActivations(x)
    let f = magnitudes(encoded: encoded, piGate: piGate)
    let gateActivity = piGate.relu()
    let frozenDecoder = wDec.detached()
    let sparsity = sparsityCoefficient == 0 ? nil :
      DenseSAEOutput.weightedL1(gateActivity, decoderNorms: Variable(wDec.value.norm(axis: 1)), coefficient: sparsityCoefficient)
    let frozenReconstruction = Variable.matmul(gateActivity, frozenDecoder) + bDec.detached()
    let aux = (frozenReconstruction - Variable(x.value)).square().sum(axis: -1).mean()
    return DenseSAEOutput.make(x: x, magnitudes: f, reconstruction: decode(f), sparsity: sparsity, aux: aux)
  }

  /// One independent SAE per key, initialised in key order.
  static func set(_ config: SAEConfig, _ c: Int, _ g: inout RandomGenerator, tied: Bool) -> SAESet {
    var saes: [any SparseAutoencoder] = []
    for (i, key) in config.saeKeys.enumerated() {
      saes.append(GatedSAE(key: key, featureCount: config.nFeatures[i], embeddingSize: c, tied: tied, generator: &g))
    }
    return SAESet(saes: saes)
  }
}
