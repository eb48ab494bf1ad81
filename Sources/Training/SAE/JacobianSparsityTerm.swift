import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// The JSAE Jacobian sparsity penalty of the concurrent trainer (spec section 8): for pair i (`i_mlpin` →
/// `i_mlpout` for `jsae`, `i_residmid` → `i_residpost` for `jsae_block`) it adds λ_i·J_i to the pair's loss,
/// J_i = `JacobianSparsity.pairTerm` on the clean, unpatched activations and both SAEs' top-k indices of the
/// same batch.
///
/// - Training: J_i is computed (with its gradients to the input SAE's W_dec and the output SAE's W_enc) only
///   for pairs with λ_i > 0; with λ_i = 0 it would only cost time.
/// - Evaluation: J_i is computed for every pair, also with λ_i = 0 (the paper's TopK baseline), and logged
///   after the standard fields as the reference's `jsae_concurrent.py` does: `∇_l1_raw` (J per pair),
///   `∇_l1` (λ·J per pair) and `recon_l2` (each SAE's reconstruction loss, in key order).
///
/// λ_i is the i-th value of `loss_coefficients.sparsity`, pairs ordered by layer.
public final class JacobianSparsityTerm: SAELossTerm {
  /// λ per pair, in layer order.
  public let lambdas: [Float]
  /// Each pair's (input, output) keys, in layer order (the loss layout's entry order).
  public let pairs: [(input: SAEKey, output: SAEKey)]
  /// How many pair Jacobians this term has computed itself (evaluation reuses the batch's metrics when it
  /// has them).
  public private(set) var computedJacobians = 0

  /// The term for `model`, whose variant must be `jsae` with FF-layer keys or `jsae_block` with FF-block keys
  /// and whose SAEs are independent TopK SAEs; `lambdas` holds one value per pair. Throws a one-line error
  /// otherwise.
  public init(lambdas: [Float], model: SparsifiedGPT) throws {
    let variant = model.config.saeVariant
    guard model.reportsJacobian, let placement = model.placement else {
      throw TrainingError("the Jacobian sparsity term needs variant jsae with i_mlpin/i_mlpout keys or jsae_block with i_residmid/i_residpost keys; got \(variant.rawValue) with keys \(model.keys.map(\.description))")
    }
    let layout = try SAELossLayout(config: model.config)
    pairs = layout.entryKeys.map { (placement.pair(layer: $0.layer).upstream, placement.pair(layer: $0.layer).downstream) }
    guard lambdas.count == pairs.count else {
      throw TrainingError("the Jacobian sparsity term has \(lambdas.count) λ values for \(pairs.count) SAE pairs")
    }
    guard lambdas.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
      throw TrainingError("Jacobian sparsity λ must be finite and ≥ 0, got \(lambdas)")
    }
    for (a, b) in pairs {
      for key in [a, b] {
        guard let form = model.saes[key]?.topKForm, form.trainableFeatures == nil else {
          throw TrainingError("the Jacobian sparsity term needs independent TopK SAEs; the SAE at \(key) is not one")
        }
      }
    }
    self.lambdas = lambdas
  }

  /// The term of a run: λ from `loss_coefficients.sparsity` (none given = 0 for every pair, a TopK baseline).
  public convenience init(config: SAETrainingConfig, model: SparsifiedGPT) throws {
    let n = model.keys.count / 2
    try self.init(lambdas: config.lossCoefficients.sparsity ?? [Float](repeating: 0, count: n), model: model)
  }

  public func loss(for batch: SAELossBatch) throws -> SAEExtraLoss {
    guard batch.layout.count == pairs.count,
          zip(batch.layout.entryKeys, pairs).allSatisfy({ $0 == $1.input }) else {
      throw TrainingError("the Jacobian sparsity term was built for pairs \(pairs.map(\.input.description)) but the loss layout has entries \(batch.layout.entryKeys.map(\.description))")
    }
    if batch.isTraining {
      let perEntry: [Variable?] = try pairs.indices.map { e in
        lambdas[e] > 0 ? try jacobian(e, batch) * lambdas[e] : nil
      }
      return SAEExtraLoss(perEntry: perEntry)
    }
    var raw: [Float] = [], scaled: [Float] = []
    for e in pairs.indices {
      let j = try batch.metrics?.jacobianL1[pairs[e].input] ?? withNoGrad { try jacobian(e, batch).value.scalar }
      raw.append(j)
      scaled.append(lambdas[e] * j)
    }
    let recon = try batch.model.keys.map { key -> Float in
      if let r = batch.metrics?.reconstruct[key] { return r }
      guard let o = batch.outputs[key] else { throw TrainingError("no SAE output at \(key) for the Jacobian sparsity term") }
      return o.losses.reconstruct.value.scalar
    }
    return SAEExtraLoss(perEntry: scaled.map { Variable(Tensor(scalar: $0)) },
                        metrics: [("∇_l1_raw", raw), ("∇_l1", scaled), ("recon_l2", recon)])
  }

  /// J of pair `e` on the batch (an autograd node into W_dec of the input SAE and W_enc of the output SAE).
  func jacobian(_ e: Int, _ batch: SAELossBatch) throws -> Variable {
    let (inKey, outKey) = pairs[e]
    computedJacobians += 1
    guard let x = batch.activations[inKey] else { throw TrainingError("no clean activation recorded at \(inKey)") }
    guard let inIdx = batch.outputs[inKey]?.topKIndices, let outIdx = batch.outputs[outKey]?.topKIndices else {
      throw TrainingError("no top-k indices for the SAE pair \(inKey) → \(outKey)")
    }
    return try JacobianSparsity.pairTerm(try SAEPair(model: batch.model, layer: inKey.layer), cleanInput: x,
                                         inIndices: inIdx, outIndices: outIdx)
  }
}
