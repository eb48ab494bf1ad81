import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// Trains a GPT and its SAEs together (the reference's regularization trainer, spec section 8): the loss
/// is the GPT's cross-entropy plus mean over SAEs of λ·recon_i/‖x_i‖ + sparsity_i + λ·aux_i/‖x_i‖, where
/// ‖x_i‖ is the mean L2 norm of SAE i's input over tokens and λ = `loss_coefficients.regularization`.
/// As in the reference, nothing is detached: the SAE inputs are the live activations, so the SAE losses —
/// including ‖x_i‖ — also train the GPT. (Reconstruction is computed here with a differentiable target;
/// a variant's aux loss, e.g. gated, keeps its own constant target.) The SAEs see the activations but are
/// not patched in, so the cross-entropy is the plain GPT's.
///
/// AdamW (β 0.9/0.95, ε 1e-8) over the GPT's weight-decay groups (0.1 on matrices, none on vectors) and
/// the SAE parameters (no decay), one gradient clip of 1.0 over all of them. The loss is one scalar; at each
/// evaluation the whole model (GPT and every SAE) is saved when it is ≤ the best so far. The run starts from
/// the given GPT (the reference starts from a fresh one; `SAETrainer.make` does when no GPT checkpoint is
/// given).
public final class RegularizationSAETrainer: SAETrainer {
  /// λ, the weight of the normalised reconstruction and aux terms (`loss_coefficients.regularization`).
  public let regularizationCoefficient: Float

  /// A trainer on the GPT checkpoint in `loadFrom`, or on a fresh GPT of the SAE model's `gpt_config`
  /// initialised from `seed` when `loadFrom` is nil.
  public convenience init(config: SAETrainingConfig, loadFrom: URL?, checkpointsDirectory: URL, seed: UInt64 = 0,
                          echo: Bool = true) throws {
    try config.validate()
    let gpt = try loadFrom.map { try GPTCheckpoint.load(from: $0) } ?? GPT(config: try config.model().architecture(), seed: seed)
    try self.init(config: config, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
  }

  /// A trainer on `gpt`, whose parameters are trained (they are set to require gradients).
  public init(config: SAETrainingConfig, gpt: GPT, checkpointsDirectory: URL, seed: UInt64 = 0, echo: Bool = true) throws {
    regularizationCoefficient = config.lossCoefficients.regularization ?? 0
    try super.init(config: config, kind: .regularization, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed,
                   echo: echo, trainsGPT: true, layout: { SAELossLayout.whole(config: $0) })
  }

  /// CE + mean_i(λ·recon_i/‖x_i‖ + sparsity_i + λ·aux_i/‖x_i‖) of one batch.
  func loss(_ tokens: IntTensor, targets: IntTensor) throws -> Variable {
    let live = SAEOutputs()
    let ce = try model.gpt.run(tokens, replace: model.saeEdits(patch: [], outputs: live)).logits!.crossEntropy(targets: targets)
    let lambda = regularizationCoefficient
    let terms = try model.keys.map { key -> Variable in
      guard let x = live.inputs[key], let out = live.values[key] else { throw TrainingError("SAE key \(key) was not reached by the forward pass") }
      let norm = x.l2Norm(axis: -1).mean()                                    // mean ‖x‖ over tokens
      let reconstruct = (out.reconstruction - x).square().sum(axis: -1).mean()
      return (reconstruct / norm) * lambda + out.losses.sparsity + (out.losses.aux / norm) * lambda
    }
    return ce + terms.dropFirst().reduce(terms[0], +) * (1 / Float(terms.count))
  }

  override func trainingLosses(_ tokens: IntTensor, targets: IntTensor) throws -> [Variable] {
    [try loss(tokens, targets: targets)]
  }

  override func validationLosses(_ tokens: IntTensor, targets: IntTensor, metrics: SparsifiedMetrics)
    throws -> (losses: [Double], extras: [(name: String, values: [Float])]) {
    ([Double(try withNoGrad { try loss(tokens, targets: targets) }.value.scalar)], [])
  }

  override func entryName(_ e: Int) -> String { "the regularized model" }
}
