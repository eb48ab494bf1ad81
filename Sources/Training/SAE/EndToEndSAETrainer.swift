import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// Trains every SAE "end to end" on a frozen GPT (spec section 8; Braun et al. 2024): per SAE, the loss is
/// KL(softmax(clean logits) ‖ softmax(logits with that SAE's reconstruction patched in)) with PyTorch's
/// `batchmean` over all B·T positions, plus the SAE's sparsity loss, plus `downstream` × the mean over later
/// blocks' outputs of the residual MSE (Σ over C, mean over tokens) between the patched and the clean run.
/// The downstream outputs are those of the blocks after the patch point except the last block's (the
/// reference's "never target the last layer"), so the SAEs entering the last block or ln_f have no
/// downstream term. The reference passes string keys where layer numbers are expected (a bug); this is the
/// intended behaviour.
///
/// Gradients flow through the frozen GPT downstream of the patch point into the SAE's parameters. Each
/// batch runs the clean GPT once (no gradients), then for each SAE only the blocks from its patch point on,
/// and back-propagates that SAE's loss before the next. Optimiser, schedule, evaluation, checkpointing (per
/// SAE, or per shared-weight group, on its own e2e val loss), eval lines and resume are the concurrent
/// trainer's (`SAETrainer`).
public final class EndToEndSAETrainer: SAETrainer {
  /// Weight of the downstream reconstruction term (`loss_coefficients.downstream`).
  public let downstreamCoefficient: Float

  /// A trainer on the GPT checkpoint in `loadFrom`, whose architecture must equal the SAE model's `gpt_config`.
  public convenience init(config: SAETrainingConfig, loadFrom: URL, checkpointsDirectory: URL, seed: UInt64 = 0,
                          echo: Bool = true) throws {
    try config.validate()
    let gpt = try GPTCheckpoint.load(from: loadFrom)
    try self.init(config: config, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
  }

  /// A trainer on `gpt` (frozen here). SAEs are initialised from `seed`. Paired variants (`jsae`,
  /// `jsae_block`, `staircase_block`) are refused: their losses are per pair.
  public init(config: SAETrainingConfig, gpt: GPT, checkpointsDirectory: URL, seed: UInt64 = 0, echo: Bool = true) throws {
    downstreamCoefficient = config.lossCoefficients.downstream ?? 0
    try super.init(config: config, kind: .endToEnd, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
  }

  // MARK: Loss

  /// One batch of the clean model: the KL target softmax(clean logits) and the clean activations at every
  /// SAE key, every patch point's block input and every downstream output.
  struct CleanBatch {
    var target: SoftTargetKL
    var activations: [SAEKey: Tensor]
  }

  /// The act keys whose clean and patched values the downstream term of the SAE at `key` compares: the
  /// outputs of the blocks after the patch point, except the last block's.
  func downstreamKeys(of key: SAEKey) -> [SAEKey] {
    let n = model.gpt.config.nLayer
    // The patched activation first changes the output of its own block (of the next block for residpost,
    // which is itself block `layer`'s output).
    let first = key.layer + (key.hookPoint == .residpost ? 2 : 1)
    guard first <= n - 1 else { return [] }
    return (first...(n - 1)).map { SAEKey(layer: $0, hookPoint: .act) }
  }

  /// The block input a patched forward for `key` starts from.
  static func startKey(of key: SAEKey) -> SAEKey { SAEKey(layer: key.layer, hookPoint: .act) }

  /// Runs the clean GPT on `tokens` without gradients.
  func cleanBatch(_ tokens: IntTensor) throws -> CleanBatch {
    var keys = Set(model.keys)
    for key in model.keys {
      keys.insert(Self.startKey(of: key))
      keys.formUnion(downstreamKeys(of: key))
    }
    let clean = try withNoGrad { try model.gpt.run(tokens, record: keys) }
    return CleanBatch(target: SoftTargetKL(targetLogits: clean.logits!.value), activations: clean.activations.mapValues(\.value))
  }

  /// The end-to-end loss of `sae` on a clean batch: KL + sparsity + downstream (differentiable in the SAE's
  /// parameters when grad mode is on).
  func loss(of sae: any SparseAutoencoder, clean: CleanBatch) throws -> Variable {
    let key = sae.key
    guard let x = clean.activations[key], let start = clean.activations[Self.startKey(of: key)] else {
      throw TrainingError("no clean activation recorded at SAE key \(key)")
    }
    let out = sae(Variable(x))
    let targets = downstreamKeys(of: key)
    let patched = model.gpt.run(residual: Variable(start), startAt: key.layer, record: Set(targets),
                                replace: [key: { _ in out.reconstruction }])
    let kl = clean.target.loss(patched.logits!)  // logits [B, T, V]
    var downstream = SAELossComponents.zero
    if !targets.isEmpty {
      let terms = targets.map { t in
        (patched.activations[t]! - Variable(clean.activations[t]!)).square().sum(axis: -1).mean() * downstreamCoefficient
      }
      downstream = terms.dropFirst().reduce(terms[0], +) * (1 / Float(terms.count))
    }
    return kl + out.losses.sparsity + downstream
  }

  /// The loss vector of one batch (one e2e loss per SAE, in key order).
  func lossVector(_ tokens: IntTensor) throws -> [Variable] {
    let clean = try cleanBatch(tokens)
    return try layout.entries.map { try loss(of: model.orderedSAEs[$0[0]], clean: clean) }
  }

  /// One clean run, then each SAE's forward from its patch point and backward in turn (so only one SAE's
  /// graph is alive at a time).
  override func accumulateGradients(_ tokens: IntTensor, targets: IntTensor, scale: Float, step: Int) throws -> [Float] {
    let clean = try cleanBatch(tokens)
    var values = [Float](repeating: 0, count: layout.count)
    for (e, members) in layout.entries.enumerated() {
      let loss = try self.loss(of: model.orderedSAEs[members[0]], clean: clean)
      values[e] = loss.value.scalar
      try checkFinite(values[e], entry: e, step: step)
      (scale == 1 ? loss : loss * scale).backward()
    }
    return values
  }

  override func validationLosses(_ tokens: IntTensor, targets: IntTensor, metrics: SparsifiedMetrics)
    throws -> (losses: [Double], extras: [(name: String, values: [Float])]) {
    let losses = try withNoGrad { try lossVector(tokens) }
    return (losses.map { Double($0.value.scalar) }, [])
  }
}
