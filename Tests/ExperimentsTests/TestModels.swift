import Autograd
import Foundation
import GPT
@testable import SAE
import Tensor
@testable import Experiments

/// Small random models for exact-equality tests of the experiment code.
enum TestModels {
  /// A GPT with O(1) activations: embeddings N(0, 1), weights N(0, 0.35), biases N(0, 0.1), norm weights
  /// 1 + N(0, 0.2), so that attention, GELU and the norms are far from linear.
  static func gpt(seed: UInt64, norm: NormStrategy = .layerNorm, layers: Int = 2, embd: Int = 8,
                  heads: Int = 2, block: Int = 12, vocab: Int = 20) throws -> GPT {
    let config = GPTConfig(blockSize: block, vocabSize: vocab, nLayer: layers, nHead: heads, nEmbd: embd,
                           normStrategy: norm, alphaMLP: 1.5)
    let gpt = try GPT(config: config, seed: seed)
    var g = RandomGenerator(seed: seed &+ 1000)
    for (name, p) in gpt.namedParameters {
      let s = p.shape
      let isNormWeight = name.hasSuffix("ln_1.weight") || name.hasSuffix("ln_2.weight") || name.hasSuffix("ln_f.weight")
        || name.hasSuffix(".gamma")
      if name.hasSuffix(".alpha") { continue }
      if isNormWeight {
        p.assign(Tensor.normal(s, mean: 1, std: 0.2, generator: &g))
      } else if name.contains("wte") || name.contains("wpe") {
        p.assign(Tensor.normal(s, std: 1, generator: &g))
      } else if s.count == 1 {
        p.assign(Tensor.normal(s, std: 0.1, generator: &g))
      } else {
        p.assign(Tensor.normal(s, std: 0.35, generator: &g))
      }
    }
    return gpt
  }

  /// SAEs of `config` on `gpt` with random biases (N(0, 0.1)).
  static func sparsified(_ gpt: GPT, _ config: SAEConfig, seed: UInt64) throws -> SparsifiedGPT {
    let model = try SparsifiedGPT(gpt: gpt, config: config, seed: seed)
    var g = RandomGenerator(seed: seed &+ 7)
    for (name, p) in model.namedParameters where name.hasSuffix("b_enc") || name.hasSuffix("b_dec") {
      p.assign(Tensor.normal(p.shape, std: 0.1, generator: &g))
    }
    return model
  }

  static func keys(_ s: [String]) -> [SAEKey] { s.map { SAEKey($0)! } }

  /// Transformer-block TopK SAEs at 0_act…2_act of a 2-layer model (sizes differ per key).
  static func transformerBlock(seed: UInt64, norm: NormStrategy = .layerNorm) throws -> SparsifiedGPT {
    let gpt = try gpt(seed: seed, norm: norm)
    let config = SAEConfig(nFeatures: [20, 24, 16], saeVariant: .topK, topK: [3, 4, 3],
                           saeKeys: keys(["0_act", "1_act", "2_act"]))
    return try sparsified(gpt, config, seed: seed)
  }

  /// FF-layer TopK SAEs (i_mlpin, i_mlpout) with different sizes in and out.
  static func ffLayer(seed: UInt64) throws -> SparsifiedGPT {
    let gpt = try gpt(seed: seed)
    let config = SAEConfig(nFeatures: [24, 20, 16, 24], saeVariant: .jsae, topK: [3, 4, 3, 3],
                           saeKeys: keys(["0_mlpin", "0_mlpout", "1_mlpin", "1_mlpout"]))
    return try sparsified(gpt, config, seed: seed)
  }

  /// FF-block staircase SAEs (i_residmid 16 / i_residpost 24 sharing one dictionary per layer).
  static func ffBlock(seed: UInt64, norm: NormStrategy = .layerNorm) throws -> SparsifiedGPT {
    let gpt = try gpt(seed: seed, norm: norm)
    let config = SAEConfig(nFeatures: [16, 24, 16, 24], saeVariant: .staircaseBlock, topK: [3, 3, 4, 3],
                           saeKeys: keys(["0_residmid", "0_residpost", "1_residmid", "1_residpost"]))
    return try sparsified(gpt, config, seed: seed)
  }

  /// Random tokens [rows, T].
  static func tokens(rows: Int, length: Int, vocab: Int = 20, seed: UInt64) -> IntTensor {
    var g = RandomGenerator(seed: seed)
    return IntTensor(shape: [rows, length], scalars: (0..<(rows * length)).map { _ in Int32(g.nextInt(below: vocab)) })
  }
}

/// A JumpReLU-like SAE for tests: pre = ReLU((x − b_dec)·W_enc + b_enc), f = pre·[pre > θ] with the
/// straight-through gradient [pre > θ], linear decoder, IG baseline θ where f > 0.
final class StubJumpReLUSAE: SparseAutoencoder {
  let key: SAEKey
  let featureCount: Int
  let embeddingSize: Int
  var sparsityCoefficient: Float = 0
  let wEnc: Variable, bEnc: Variable, wDec: Variable, bDec: Variable
  let theta: Tensor

  init(key: SAEKey, features: Int, embedding: Int, seed: UInt64) {
    self.key = key
    featureCount = features
    embeddingSize = embedding
    var g = RandomGenerator(seed: seed)
    wEnc = Variable(Tensor.normal([embedding, features], std: 0.5, generator: &g))
    bEnc = Variable(Tensor.normal([features], std: 0.1, generator: &g))
    wDec = Variable(Tensor.normal([features, embedding], std: 0.5, generator: &g))
    bDec = Variable(Tensor.normal([embedding], std: 0.1, generator: &g))
    theta = Tensor.uniform([features], low: 0.05, high: 0.4, generator: &g)
  }

  var namedParameters: [(String, Variable)] { [("W_dec", wDec), ("W_enc", wEnc), ("b_dec", bDec), ("b_enc", bEnc)] }

  func callAsFunction(_ x: Variable) -> SAEOutput {
    let f = encode(x)
    let zero = SAELossComponents.zero
    return SAEOutput(reconstruction: decode(f), magnitudes: FeatureMagnitudes(dense: f.value), topKIndices: nil,
                     losses: SAELossComponents(reconstruct: zero, sparsity: zero, aux: zero, l0: 0, xNorm: 0, xL1: 0))
  }

  func encode(_ x: Variable) -> Variable {
    let pre = (Variable.matmul(x - bDec, wEnc) + bEnc).relu()
    return pre.masked(by: (pre.value - theta).greater(than: 0))
  }

  func decode(_ f: Variable) -> Variable { Variable.matmul(f, wDec) + bDec }

  func ablationPreActivation(_ x: Variable) -> Variable { encode(x) }

  func attributionBaseline(_ f: Tensor) -> Tensor { f.greater(than: 0) * theta }
}

/// ‖a − b‖_F / ‖b‖_F.
func relativeFrobenius(_ a: Tensor, _ b: Tensor) -> Float {
  precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
  return (a - b).norm() / Swift.max(b.norm(), 1e-30)
}
