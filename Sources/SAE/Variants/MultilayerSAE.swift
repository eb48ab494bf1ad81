import Autograd
import Tensor

/// One key's view of a `multilayer` SAE set (the reference's `MultiLayerSAE`, unreachable there — no
/// variant string builds it): the SAE at key index i uses the first n_i = (i+1)·F features of a shared
/// `MultilayerDictionary` (W_enc columns, W_dec rows and b_enc sliced; b_dec shared):
/// f = ReLU(x·W_enc[:, :n_i] + b_enc[:n_i]); x̂ = f·W_dec[:n_i] + b_dec;
/// sparsity = λ·mean over tokens of Σ_j f_j·‖W_dec[j]‖₂ (as `standard`).
///
/// As in the reference, the encoder does not subtract b_dec from its input.
///
/// sae.json: n_features lists each SAE's width, i.e. [F, 2F, …, nF]. Files: every `sae.{idx}.safetensors`
/// holds the whole dictionary as `sae.W_dec` [nF, C], `sae.W_enc` [C, nF], `sae.b_dec` [C], `sae.b_enc`
/// [nF] — what `save_model` writes for the reference's wrapper, whose dictionary is its submodule `sae`.
/// On load every file is read in index order (the last one wins, as in the reference's loader).
/// The first SAE lists the dictionary among its `namedParameters` (each parameter is listed once per set).
public final class MultilayerSAE: SparseAutoencoder {
  public let key: SAEKey
  /// n_i = (i+1)·F.
  public let featureCount: Int
  public let dictionary: MultilayerDictionary
  /// Whether `namedParameters` lists the dictionary (true for the first SAE).
  public let ownsDictionary: Bool
  /// λ of the sparsity penalty.
  public var sparsityCoefficient: Float = 0

  public init(key: SAEKey, featureCount: Int, dictionary: MultilayerDictionary, ownsDictionary: Bool) {
    precondition(featureCount <= dictionary.featureCount,
                 "SAE size \(featureCount) exceeds the multilayer dictionary \(dictionary.featureCount)")
    self.key = key
    self.featureCount = featureCount
    self.dictionary = dictionary
    self.ownsDictionary = ownsDictionary
  }

  public var embeddingSize: Int { dictionary.bDec.shape[0] }

  public var namedParameters: [(String, Variable)] {
    ownsDictionary ? prefixed("sae", dictionary.namedParameters) : []
  }

  public var checkpointParameters: [(String, Variable)] { prefixed("sae", dictionary.namedParameters) }

  func sliced(_ v: Variable, axis: Int) -> Variable {
    v.shape[axis] == featureCount ? v : v.slice(axis: axis, 0..<featureCount)
  }

  public func encode(_ x: Variable) -> Variable {
    (Variable.matmul(x, sliced(dictionary.wEnc, axis: 1)) + sliced(dictionary.bEnc, axis: 0)).relu()
  }

  public func decode(_ f: Variable) -> Variable {
    Variable.matmul(f, sliced(dictionary.wDec, axis: 0)) + dictionary.bDec
  }

  /// The full encoder.
  public func ablationPreActivation(_ x: Variable) -> Variable { encode(x) }

  public func callAsFunction(_ x: Variable) -> SAEOutput {
    let f = encode(x)
    let sparsity = sparsityCoefficient == 0 ? nil :
      DenseSAEOutput.weightedL1(f, decoderNorms: sliced(dictionary.wDec, axis: 0).l2Norm(axis: 1),
                                coefficient: sparsityCoefficient)
    return DenseSAEOutput.make(x: x, magnitudes: f, reconstruction: decode(f), sparsity: sparsity, aux: nil)
  }

  /// Checks n_features = [F, 2F, …, nF] and builds one dictionary of nF features for all keys.
  static func set(_ config: SAEConfig, _ c: Int, _ g: inout RandomGenerator) throws -> SAESet {
    let f = config.nFeatures[0]
    let expected = config.nFeatures.indices.map { ($0 + 1) * f }
    guard config.nFeatures == expected else {
      throw SAEError("invalid sae.json: multilayer needs n_features = [F, 2F, …, nF] (here \(expected)), got \(config.nFeatures)")
    }
    let dictionary = MultilayerDictionary(featureCount: expected.last!, embeddingSize: c, generator: &g)
    let saes: [any SparseAutoencoder] = config.saeKeys.enumerated().map { i, key in
      MultilayerSAE(key: key, featureCount: expected[i], dictionary: dictionary, ownsDictionary: i == 0)
    }
    return SAESet(saes: saes)
  }
}
