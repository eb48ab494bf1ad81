import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// Trains every SAE of a sparsified GPT at once on a frozen GPT (the reference's concurrent trainer, spec
/// section 8): the loss is a vector with one total per SAE (or per pair for paired variants) — reconstruct
/// + sparsity + aux + any extra `SAELossTerm` — whose sum is backpropagated; AdamW (β 0.9/0.95, ε 1e-8, no
/// weight decay) over all SAE parameters with one global gradient clip of 1.0; the GPT's warmup/cosine
/// schedule. At each evaluation, every SAE (pair) whose own val loss is ≤ its best so far is saved into
/// `<checkpoints dir>/<name>/`; SAEs sharing weights are saved as a group, when the sum of the members' val losses is ≤ its best.
/// After the last step the best checkpoint is reloaded from disk and its final metrics are reported.
public final class ConcurrentSAETrainer: SAETrainer {
  /// Extra loss terms added per entry (e.g. the JSAE Jacobian penalty).
  public private(set) var lossTerms: [any SAELossTerm] = []
  /// Activation keys the loss terms need beyond the SAE keys.
  private(set) var extraKeys: [SAEKey] = []
  /// Where training batches' clean activations come from when this trainer is part of an `SAETrainingGroup`
  /// (nil: its own GPT forward).
  public internal(set) var sharedActivations: SharedActivations?

  /// Every clean activation key a training step reads: the SAE keys, then the loss terms' extra keys.
  public var activationKeys: [SAEKey] { modelConfig.saeKeys + extraKeys }

  /// A trainer on the GPT checkpoint in `loadFrom` (model.json + model.safetensors), whose architecture must
  /// equal the SAE model's `gpt_config`.
  public convenience init(config: SAETrainingConfig, loadFrom: URL, checkpointsDirectory: URL, seed: UInt64 = 0,
                          echo: Bool = true, lossTerms: [any SAELossTerm]? = nil) throws {
    try config.validate()
    let gpt = try GPTCheckpoint.load(from: loadFrom)
    try self.init(config: config, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo, lossTerms: lossTerms)
  }

  /// A trainer on `gpt` (frozen here: its parameters stop requiring gradients). SAEs are initialised from
  /// `seed`; `lossTerms` nil takes the terms registered for the variant (`SAELossTerms.defaults`).
  public init(config: SAETrainingConfig, gpt: GPT, checkpointsDirectory: URL, seed: UInt64 = 0, echo: Bool = true,
              lossTerms: [any SAELossTerm]? = nil) throws {
    try super.init(config: config, kind: .concurrent, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
    let terms = try lossTerms ?? SAELossTerms.defaults(for: config, model: model)
    self.lossTerms = terms
    var extra: [SAEKey] = []
    for key in terms.flatMap(\.extraActivationKeys) where !extra.contains(key) && !modelConfig.saeKeys.contains(key) { extra.append(key) }
    extraKeys = extra
  }

  /// Runs the frozen GPT once per distinct batch: keeps up to `bytes` of the clean activations of first-seen
  /// batches and serves them when the data loader comes round to the same windows again (every epoch; see
  /// `SharedActivations`). Bit-identical to computing them each time. For a run trained on its own; the runs of
  /// an `SAETrainingGroup` share the group's `SharedActivations` (its `retainedBytes`). Only the batches the
  /// run reads again are kept: `SharedActivations.reusableBatches` over its max_steps, plus the evaluation's
  /// val batches (read at every evaluation). Call it after `distribute(over:)`.
  public func retainActivations(bytes: Int) throws {
    let shared = SharedActivations(gpt: model.gpt, keys: activationKeys,
                                   capacity: config.gradientAccumulationSteps, retainedBytes: bytes)
    shared.retainedBatchLimit = SharedActivations.batchLimit(epoch: try trainLoader.batchesPerEpoch(), reads: [try batchReads],
                                                             evalSteps: config.evalSteps)
    sharedActivations = shared
  }

  // MARK: Loss

  /// Clean activations and each SAE's output for one batch (outputs differentiable when grad mode is on).
  func forward(_ tokens: IntTensor) throws -> (activations: [SAEKey: Tensor], outputs: [SAEKey: SAEOutput]) {
    let acts = try sharedActivations?.activations(tokens, keys: activationKeys) ?? model.activations(tokens, extra: extraKeys)
    var outputs: [SAEKey: SAEOutput] = [:]
    for sae in model.orderedSAEs {
      guard let x = acts[sae.key] else { throw TrainingError("no activation recorded at SAE key \(sae.key)") }
      outputs[sae.key] = sae(Variable(x))
    }
    return (acts, outputs)
  }

  /// The loss vector of one batch (one scalar per entry) and the extra terms' outputs; at evaluation
  /// `metrics` (the batch's `SparsifiedGPT.metrics`) is handed to the terms for reuse.
  func lossVector(_ tokens: IntTensor, training: Bool, metrics: SparsifiedMetrics? = nil)
    throws -> (entries: [Variable], extras: [SAEExtraLoss]) {
    let (acts, outputs) = try forward(tokens)
    let keys = model.keys
    var entries = layout.entries.map { members in
      members.dropFirst().reduce(outputs[keys[members[0]]]!.losses.total) { $0 + outputs[keys[$1]]!.losses.total }
    }
    var extras: [SAEExtraLoss] = []
    if !lossTerms.isEmpty {
      let batch = SAELossBatch(model: model, tokens: tokens, activations: acts, outputs: outputs, layout: layout,
                               coefficients: config.lossCoefficients, isTraining: training, metrics: metrics)
      for term in lossTerms {
        let extra = try term.loss(for: batch)
        guard extra.perEntry.count == layout.count else {
          throw TrainingError("loss term \(type(of: term)) returned \(extra.perEntry.count) entries for a loss vector of \(layout.count)")
        }
        for (e, v) in extra.perEntry.enumerated() { if let v { entries[e] = entries[e] + v } }
        extras.append(extra)
      }
    }
    return (entries, extras)
  }

  override func trainingLosses(_ tokens: IntTensor, targets: IntTensor) throws -> [Variable] {
    try lossVector(tokens, training: true).entries
  }

  /// Each entry's SAE totals from the batch metrics, plus the extra terms (computed without gradients).
  override func validationLosses(_ tokens: IntTensor, targets: IntTensor, metrics m: SparsifiedMetrics)
    throws -> (losses: [Double], extras: [(name: String, values: [Float])]) {
    let keys = model.keys
    var entry = layout.entries.map { $0.reduce(0.0) { $0 + Double(m.saeLoss[keys[$1]]!) } }
    var metrics: [(name: String, values: [Float])] = []
    if !lossTerms.isEmpty {
      let extras = try withNoGrad { try lossVector(tokens, training: false, metrics: m).extras }
      for extra in extras {
        for (e, v) in extra.perEntry.enumerated() { if let v { entry[e] += Double(v.value.scalar) } }
        metrics += extra.metrics
      }
    }
    return (entry, metrics)
  }
}
