import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// One batch as the SAE trainer sees it, handed to extra loss terms.
public struct SAELossBatch {
  /// The sparsified model (frozen GPT and the SAEs being trained).
  public let model: SparsifiedGPT
  /// Tokens [B, T].
  public let tokens: IntTensor
  /// Clean activations [B, T, C] at every SAE key and at the terms' `extraActivationKeys` (nothing patched).
  public let activations: [SAEKey: Tensor]
  /// Each SAE's output on its clean activation; differentiable during training, constant at evaluation.
  public let outputs: [SAEKey: SAEOutput]
  /// The loss-vector layout (entries = SAEs or pairs).
  public let layout: SAELossLayout
  /// The run's loss coefficients (e.g. λ per pair for the JSAE Jacobian penalty).
  public let coefficients: SAELossCoefficients
  /// True for a training step, false at evaluation.
  public let isTraining: Bool
  /// At evaluation, the batch's `SparsifiedGPT.metrics` (same clean forward), which terms may reuse instead of
  /// recomputing (e.g. `jacobianL1`); nil during training.
  public internal(set) var metrics: SparsifiedMetrics? = nil
}

/// What an extra loss term contributes for one batch.
public struct SAEExtraLoss {
  /// Per loss entry, a scalar added to that entry's total (nil = nothing); must be differentiable with
  /// respect to the SAE parameters during training.
  public var perEntry: [Variable?]
  /// Per-entry values logged on eval lines after the standard fields (averaged over the eval batches), e.g.
  /// `("∇_l1", J per pair)`. Ignored during training.
  public var metrics: [(name: String, values: [Float])]

  public init(perEntry: [Variable?], metrics: [(name: String, values: [Float])] = []) {
    self.perEntry = perEntry
    self.metrics = metrics
  }
}

/// An extra term of the concurrent SAE loss, added per entry (per SAE or per pair) to reconstruct + sparsity
/// + aux — e.g. the JSAE Jacobian penalty λ·J per pair.
public protocol SAELossTerm: AnyObject {
  /// Activation keys needed beyond the SAE keys (recorded clean, without gradients).
  var extraActivationKeys: [SAEKey] { get }
  /// The term for one batch. Called for every training micro-batch and every evaluation batch.
  func loss(for batch: SAELossBatch) throws -> SAEExtraLoss
}

extension SAELossTerm {
  public var extraActivationKeys: [SAEKey] { [] }
}

/// Extra loss terms by SAE variant: `ConcurrentSAETrainer` asks here for the terms of its model's variant
/// unless it is given terms explicitly (custom terms are passed to its initialiser). Decided by the variant's
/// traits: JSAE variants (`SAEVariant.isJSAE`) get the Jacobian sparsity penalty (`JacobianSparsityTerm`),
/// every other variant none.
public enum SAELossTerms {
  /// The terms for a run.
  public static func defaults(for config: SAETrainingConfig, model: SparsifiedGPT) throws -> [any SAELossTerm] {
    model.config.saeVariant.isJSAE ? [try JacobianSparsityTerm(config: config, model: model)] : []
  }
}
