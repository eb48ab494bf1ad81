import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// What every SAE trainer shares (the reference's `SAETrainer`, spec section 8): a sparsified GPT, a loss
/// vector laid out by `SAELossLayout`, AdamW (β 0.9/0.95, ε 1e-8, no weight decay on SAE parameters) with
/// one global gradient clip of 1.0, the warmup/cosine schedule, evaluation with per-unit best-checkpoint
/// saving into `<checkpoints dir>/<name>/`, eval lines in the reference's format, resume states, and the
/// final report of the best checkpoint reloaded from disk.
///
/// Subclasses define the loss: `ConcurrentSAETrainer` (reconstruct + sparsity + aux per SAE or pair),
/// `EndToEndSAETrainer` (KL of patched logits + sparsity + downstream reconstruction per SAE) and
/// `RegularizationSAETrainer` (GPT cross-entropy plus normalised SAE losses, GPT trained too). Use
/// `SAETrainer.make` to build the trainer a configuration names.
public class SAETrainer: ResumableTrainer {
  public let config: SAETrainingConfig
  /// The SAE architecture being trained.
  public let modelConfig: SAEModelConfig
  /// The GPT with the SAEs under training (the GPT is frozen unless `trainsGPT`).
  public let model: SparsifiedGPT
  /// Entries of the loss vector and units saved together.
  public let layout: SAELossLayout
  public let runDirectory: URL
  public let optimizer: AdamW
  /// Whether the GPT's parameters are trained along with the SAEs.
  public let trainsGPT: Bool
  public private(set) var trainLoader: TokenDataLoader
  public private(set) var valLoader: TokenDataLoader
  /// Best val loss per entry among saved checkpoints (infinity until first saved). The entries of a save
  /// unit are always saved together, so their best losses come from one evaluation.
  public internal(set) var bestLosses: [Float]
  /// The step each entry's saved checkpoint comes from (nil until first saved).
  public internal(set) var bestSteps: [Int?]
  /// Val loss per entry at the latest evaluation.
  public private(set) var lastValLosses: [Float] = []
  /// Whether each entry was saved at the latest evaluation.
  public private(set) var lastSaved: [Bool] = []
  /// Metrics of the reloaded best checkpoint, once training has completed.
  public private(set) var finalMetrics: SparsifiedMetrics?
  /// The reloaded best checkpoint, once training has completed.
  public private(set) var finalModel: SparsifiedGPT?
  let seed: UInt64
  let logger: RunLogger
  /// Every optimised parameter with its name in the resume state: the SAE parameters (own and shared, each
  /// once, in `model.namedParameters` order), then — when the GPT is trained — the GPT's as `gpt.{name}`.
  let trainedParameters: [(String, Variable)]
  /// `trainedParameters` without names.
  let parameters: [Variable]
  /// Fingerprint of the GPT weights the run started from.
  let gptFingerprint: String
  /// The processes training is spread over (see `distribute(over:)`).
  public private(set) var parallel = DataParallel.single
  /// Every rank's train-loader position after the latest step (rank order), for the resume state.
  var trainPositions: [TokenDataLoader.Position]?

  /// Weight decay of the GPT's matrices when the GPT is trained (the reference's `TrainingConfig` default;
  /// vectors and SAE parameters get none).
  public static let gptWeightDecay: Float = 0.1

  /// A trainer of `kind` on `gpt` whose architecture must equal the SAE model's `gpt_config`. The GPT is
  /// frozen (its parameters stop requiring gradients) unless `trainsGPT`; SAEs are initialised from `seed`;
  /// `layout` maps the SAE configuration to the loss vector.
  init(config: SAETrainingConfig, kind: SAETrainerKind, gpt: GPT, checkpointsDirectory: URL, seed: UInt64, echo: Bool,
       trainsGPT: Bool = false, layout makeLayout: (SAEConfig) throws -> SAELossLayout = { try SAELossLayout(config: $0) }) throws {
    try config.validate()
    guard config.trainer == kind else {
      throw TrainingError("training config \(config.name) uses the \(config.trainer.rawValue) trainer, not \(kind.rawValue) (SAETrainer.make picks the trainer a config names)")
    }
    self.config = config
    self.seed = seed
    self.trainsGPT = trainsGPT
    let m = try config.model()
    modelConfig = m
    let expected = try m.architecture()
    guard Self.sameArchitecture(gpt.config, expected) else {
      throw TrainingError("the GPT (\(Self.describe(gpt.config))) does not match \(m.name)'s gpt_config \(m.gptConfig) (\(Self.describe(expected)))")
    }
    gpt.setRequiresGrad(trainsGPT)
    do {
      model = try SparsifiedGPT(gpt: gpt, config: m.saeConfig, seed: seed)
    } catch let e as SAEError {
      throw TrainingError("cannot build the SAEs of \(m.name): \(e.description)")
    }
    layout = try makeLayout(m.saeConfig)
    Self.applyCoefficients(config.lossCoefficients, to: model)
    let saeParameters = model.namedParameters
    var groups = [AdamW.Group(parameters: saeParameters.map { $0.1 }, weightDecay: 0)]
    var trained = saeParameters
    if trainsGPT {
      groups = gpt.optimizerGroups(weightDecay: Self.gptWeightDecay) + groups
      trained += prefixed("gpt", gpt.namedParameters)
    }
    trainedParameters = trained
    parameters = trained.map { $0.1 }
    optimizer = AdamW(groups: groups, learningRate: config.learningRate, beta1: 0.9, beta2: 0.95, eps: 1e-8)
    runDirectory = checkpointsDirectory.appendingPathComponent(config.name)
    let dataDir = URL(fileURLWithPath: config.dataDir)
    let t = gpt.config.blockSize
    trainLoader = try TokenDataLoader(directory: dataDir, split: .train, batchSize: config.batchSize, sequenceLength: t)
    valLoader = try TokenDataLoader(directory: dataDir, split: .val, batchSize: config.batchSize, sequenceLength: t)
    logger = RunLogger(directory: runDirectory, echo: echo)
    bestLosses = [Float](repeating: .infinity, count: layout.count)
    bestSteps = [Int?](repeating: nil, count: layout.count)
    gptFingerprint = Self.fingerprint(gpt)
  }

  /// Tokens consumed per optimisation step (by all ranks together).
  public var tokensPerStep: Int {
    config.batchSize * ((try? parallel.localAccumulation(config.gradientAccumulationSteps)) ?? 1) * parallel.worldSize
      * model.gpt.config.blockSize
  }

  /// Micro-batches this rank runs per optimisation step.
  var localAccumulation: Int { get throws { try parallel.localAccumulation(config.gradientAccumulationSteps) } }
  /// Training batches this process reads over the whole run (max_steps micro-batch rounds).
  var batchReads: Int { get throws { config.maxSteps * (try localAccumulation) } }

  /// Spreads training over the ranks of `parallel` (call before `train`, on every rank, with the same
  /// config): each rank reads its own slice of every batch, runs its share of the accumulation steps and
  /// evaluation batches; gradients and evaluations are averaged; only rank 0 logs and writes files, and only
  /// rank 0 reloads and reports the best checkpoint at the end (`finalMetrics` stays nil elsewhere).
  public func distribute(over parallel: DataParallel) throws {
    (trainLoader, valLoader) = try parallel.rankLoaders(
      dataDir: config.dataDir, batchSize: config.batchSize, sequenceLength: model.gpt.config.blockSize,
      accumulation: config.gradientAccumulationSteps, evalSteps: config.evalSteps, logger: logger)
    self.parallel = parallel
  }

  /// Runs training from step 1, or continues from the run's resume state when `resume` is set; `stopAfter`
  /// stops early (as if interrupted) after that step; at each of `milestones` (evaluation steps) the best
  /// checkpoint is copied into `milestones/step-NNNNNN/`. When the last step is reached, the best checkpoint
  /// is reloaded and evaluated (`finalMetrics`). Returns the last completed step.
  @discardableResult
  public func train(resume: Bool = false, stopAfter: Int? = nil, milestones: Set<Int> = []) throws -> Int {
    let last = try runLoop(resume: resume, stopAfter: stopAfter, milestones: milestones)
    if last == config.maxSteps && parallel.isWriter { try finish() }
    return last
  }

  // MARK: Loss (subclasses)

  /// The loss vector of one training micro-batch (one differentiable scalar per entry).
  func trainingLosses(_ tokens: IntTensor, targets: IntTensor) throws -> [Variable] {
    preconditionFailure("\(type(of: self)) must override trainingLosses or accumulateGradients")
  }

  /// The loss vector of one val batch and extra per-entry metrics for the eval line; `metrics` is the
  /// batch's `SparsifiedGPT.metrics`.
  func validationLosses(_ tokens: IntTensor, targets: IntTensor, metrics: SparsifiedMetrics)
    throws -> (losses: [Double], extras: [(name: String, values: [Float])]) {
    preconditionFailure("\(type(of: self)) must override validationLosses")
  }

  /// Back-propagates one micro-batch's loss vector, summed and scaled by `scale`, and returns its values;
  /// throws when an entry is not finite. Default: `trainingLosses`, then one backward of the sum.
  func accumulateGradients(_ tokens: IntTensor, targets: IntTensor, scale: Float, step: Int) throws -> [Float] {
    let entries = try trainingLosses(tokens, targets: targets)
    let values = entries.map { $0.value.scalar }
    try checkFinite(values, step: step)
    let sum = entries.dropFirst().reduce(entries[0], +)
    (scale == 1 ? sum : sum * scale).backward()
    return values
  }

  /// Throws a one-line error naming the first non-finite entry.
  func checkFinite(_ values: [Float], step: Int) throws {
    for (e, v) in values.enumerated() { try checkFinite(v, entry: e, step: step) }
  }

  /// Throws a one-line error when entry `entry`'s loss `value` is not finite.
  func checkFinite(_ value: Float, entry: Int, step: Int) throws {
    guard value.isFinite else { throw nonFiniteStop("loss of \(entryName(entry)) became \(value) at step \(step)") }
  }

  /// How log messages name entry `e`.
  func entryName(_ e: Int) -> String { layout.entryKeys[e].description }

  /// The error that stops the run on a non-finite value, naming the steps of the last good checkpoint.
  func nonFiniteStop(_ what: String) -> TrainingError {
    let saved = checkpointSteps.rendered(order: model.keys.map(\.description))
    return NonFinite.stop(what, runDirectory: runDirectory, checkpoint: saved.isEmpty ? nil : saved)
  }

  // MARK: Training step

  public func trainStep(step: Int, learningRate: Float) throws -> (losses: [Float], gradNorm: Float) {
    for p in parameters { p.zeroGrad() }
    let accumulation = try localAccumulation
    var totals = [Float](repeating: 0, count: layout.count)
    for _ in 0..<accumulation {
      let (x, y) = try trainLoader.nextBatch()
      let values = try accumulateGradients(x, targets: y, scale: accumulation == 1 ? 1 : 1 / Float(accumulation), step: step)
      for (e, v) in values.enumerated() { totals[e] += v / Float(accumulation) }
    }
    let reduced = try parallel.reduceStep(parameters: parameters, losses: totals, position: trainLoader.position)
    trainPositions = reduced.positions
    let norm = clipGradNorm(parameters, maxNorm: SAETrainingConfig.gradClip)
    guard norm.isFinite else {
      throw nonFiniteStop("gradient norm became \(norm) at step \(step)" + NonFinite.gradientNote(trainedParameters))
    }
    optimizer.learningRate = learningRate
    optimizer.step()
    return (reduced.losses, norm)
  }

  // MARK: Evaluation and checkpoints

  /// Per-entry val losses, averaged metrics and the extra per-entry metrics, averaged over `eval_steps`
  /// batches of the val split (loader reset first; a window the loader repeats is computed once, see
  /// `TokenDataLoader.mapBatches`). Losses (`includeLosses`) are computed for the trainer's own model only;
  /// other models (the reloaded best checkpoint) get metrics alone. With `distributed`, each rank computes its
  /// share of the batches (`DataParallel.localBatches`) and the sums are added over the ranks.
  func validation(of model: SparsifiedGPT, includeLosses: Bool, distributed: Bool = false)
    throws -> (losses: [Float], metrics: SparsifiedMetrics, extras: [(String, [Float])]) {
    let spread = distributed && parallel.worldSize > 1
    // The rank-offset loader reads only this rank's windows; a local evaluation on one of several ranks
    // reads them all with a loader of its own.
    var loader = distributed || parallel.worldSize == 1 ? valLoader
      : try TokenDataLoader(directory: valLoader.directory, split: .val, batchSize: valLoader.batchSize,
                            sequenceLength: valLoader.sequenceLength)
    loader.reset()
    defer { if distributed || parallel.worldSize == 1 { valLoader = loader } }
    let batches = try loader.mapBatches(spread ? try parallel.localBatches(config.evalSteps) : config.evalSteps) { x, y in
      let m = try model.metrics(x, targets: y)
      return (metrics: m, losses: includeLosses ? try validationLosses(x, targets: y, metrics: m) : nil)
    }
    var sums = [Double](repeating: 0, count: layout.count)
    var all: [SparsifiedMetrics] = []
    var extraNames: [String] = [], extraSums: [String: [Double]] = [:]
    for batch in batches {
      all.append(batch.metrics)
      guard let (entry, extras) = batch.losses else { continue }
      for (name, values) in extras {
        if extraSums[name] == nil { extraNames.append(name); extraSums[name] = [Double](repeating: 0, count: values.count) }
        guard extraSums[name]!.count == values.count else {
          throw TrainingError("loss term metric \(name) changed length from \(extraSums[name]!.count) to \(values.count)")
        }
        for (i, v) in values.enumerated() { extraSums[name]![i] += Double(v) }
      }
      for e in sums.indices { sums[e] += entry[e] }
    }
    let n = Double(config.evalSteps)
    guard spread else {
      let extras = extraNames.map { ($0, extraSums[$0]!.map { Float($0 / n) }) }
      return (sums.map { Float($0 / n) }, SparsifiedMetrics.mean(all), extras)
    }
    // One allreduce of every sum: the losses, the extras (in first-seen order, the same on every rank) and
    // the metrics of this rank's batches (their mean times their count).
    let local = SparsifiedMetrics.mean(all)
    var flat = sums
    for name in extraNames { flat += extraSums[name]! }
    flat += local.flattened.map { $0 * Double(all.count) }
    let total = try parallel.sum(flat)
    var at = 0
    let losses = (0..<sums.count).map { _ -> Float in defer { at += 1 }; return Float(total[at] / n) }
    var extras: [(String, [Float])] = []
    for name in extraNames {
      let count = extraSums[name]!.count
      extras.append((name, total[at..<(at + count)].map { Float($0 / n) }))
      at += count
    }
    return (losses, local.replacing(Array(total[at...]).map { $0 / n }), extras)
  }

  public func evaluate(step: Int) throws -> [(String, LogValue)] {
    let (losses, m, extras) = try validation(of: model, includeLosses: true, distributed: true)
    lastValLosses = losses
    if let e = losses.firstIndex(where: { !$0.isFinite }) {
      throw nonFiniteStop("val loss of \(entryName(e)) became \(losses[e]) at the evaluation after step \(step)")
    }
    if let problem = m.firstNonFinite(keys: model.keys) {
      throw nonFiniteStop("\(problem) at the evaluation after step \(step)")
    }
    var saved = [Bool](repeating: false, count: layout.count)
    if step > 0 {
      var keys: [SAEKey] = []
      let improved = Self.improvedUnits(losses: losses, best: bestLosses, units: layout.saveUnits)
      for (unit, better) in zip(layout.saveUnits, improved) where better {
        for e in unit {
          bestLosses[e] = losses[e]
          bestSteps[e] = step
          saved[e] = true
          keys += layout.entries[e].map { model.keys[$0] }
        }
      }
      if !keys.isEmpty && parallel.isWriter {
        try model.save(to: runDirectory, keys: keys)
        try checkpointSteps.write(to: runDirectory)
      }
    }
    lastSaved = saved
    let checkpoint: LogValue = step == 0 ? .bool(false) : .text(saved.map { $0 ? "True" : "False" }.joined(separator: " "))
    let loss: LogValue = losses.count == 1 ? .float(losses[0]) : .vector(losses)
    return [("loss", loss), ("checkpoint", checkpoint)] + metricFields(m) + extras.map { ($0.0, .vector($0.1)) }
  }

  /// Sets each SAE's sparsity coefficient λ (per SAE; for jsae/jsae_block λ weights the Jacobian term
  /// instead) and the JumpReLU bandwidth.
  static func applyCoefficients(_ coefficients: SAELossCoefficients, to model: SparsifiedGPT) {
    let variant = model.config.saeVariant
    if let lambdas = coefficients.sparsity, lambdas.count == model.orderedSAEs.count, !variant.isJSAE {
      for (sae, lambda) in zip(model.orderedSAEs, lambdas) { sae.sparsityCoefficient = lambda }
    }
    if let bandwidth = coefficients.bandwidth {
      for sae in model.orderedSAEs { sae.setBandwidth(bandwidth) }
    }
  }

  /// For each save unit (a set of loss entries), whether the sum of its entries' losses is ≤ the sum of their
  /// best losses (spec section 8, amended 2026-12-04: a staircase group is saved when its total val loss is at
  /// its best, even if one member got worse). A NaN loss never improves; before the first save the best is ∞.
  static func improvedUnits(losses: [Float], best: [Float], units: [[Int]]) -> [Bool] {
    units.map { unit in
      let total = unit.reduce(0.0) { $0 + Double(losses[$1]) }
      let bestTotal = unit.reduce(0.0) { $0 + Double(best[$1]) }
      return total <= bestTotal
    }
  }

  /// The step of every SAE's saved checkpoint, keyed by SAE key (SAEs not yet saved are absent).
  public var checkpointSteps: CheckpointSteps {
    var steps: [String: Int] = [:]
    for (members, step) in zip(layout.entries, bestSteps) {
      guard let step else { continue }
      for i in members { steps[model.keys[i].description] = step }
    }
    return CheckpointSteps(steps: steps)
  }

  /// The reference's eval-line metrics, in its order.
  func metricFields(_ m: SparsifiedMetrics) -> [(String, LogValue)] {
    let keys = model.keys
    var fields: [(String, LogValue)] = [
      ("ce_loss", .float(m.ceLoss)),
      ("sae_losses", .vector(keys.map { m.saeLoss[$0]! })),
      ("ce_loss_increases", .vector(model.ceIncreaseKeys.map { m.ceIncrease[$0]! })),
      ("compound_ce_loss_increase", .float(m.compoundCEIncrease)),
      ("l0s", .vector(keys.map { m.l0[$0]! })),
      ("stream_l1s", .vector(keys.map { m.streamL1[$0]! })),
    ]
    for key in keys { if let chunks = m.chunkL0[key] { fields.append(("l0_\(key)", .vector(chunks))) } }
    return fields
  }

  /// Reloads the best checkpoint from disk and evaluates it (the reference's final report).
  func finish() throws {
    let best: SparsifiedGPT
    do {
      best = try SparsifiedGPT.load(from: runDirectory)
    } catch {
      throw TrainingError("cannot reload the best checkpoint from \(runDirectory.path): \(error)")
    }
    Self.applyCoefficients(config.lossCoefficients, to: best)
    let (_, m, _) = try validation(of: best, includeLosses: false)
    finalModel = best
    finalMetrics = m
    if logger.echo {
      Terminal.line("Final L0s: " + LogValue.vector(best.keys.map { m.l0[$0]! }).rendered)
      Terminal.line("Final CE loss increases: " + LogValue.vector(best.ceIncreaseKeys.map { m.ceIncrease[$0]! }).rendered)
      Terminal.line("Final compound CE loss increase: " + LogValue.float(m.compoundCEIncrease).rendered)
      if !m.jacobianL1.isEmpty {
        Terminal.line("Final Jacobian L1s: " + LogValue.vector(best.ceIncreaseKeys.map { m.jacobianL1[$0]! }).rendered)
      }
      Terminal.line("Reloaded checkpoint steps: " + checkpointSteps.rendered(order: best.keys.map(\.description)))
    }
  }

  // MARK: Resume

  struct ResumeState: Codable {
    var step: Int
    /// Best val loss per entry (nil = none saved yet).
    var bestLosses: [Float?]
    /// The step of each entry's saved checkpoint (nil = none saved yet; absent in states written before
    /// steps were recorded).
    var bestSteps: [Int?]?
    var trainPosition: TokenDataLoader.Position
    /// Every rank's train-loader position (absent in states written before data-parallel runs; then one rank).
    var trainPositions: [TokenDataLoader.Position]?
    var config: SAETrainingConfig
    var model: SAEModelConfig
    var seed: UInt64
    /// Fingerprint of the GPT the run started from.
    var gptFingerprint: String
  }

  static let weightsFile = "sae.safetensors", optimizerFile = "optimizer.safetensors"

  public func saveResumeState(step: Int) throws {
    guard parallel.isWriter else { return }
    var weights: [String: Tensor] = [:]
    for (name, p) in trainedParameters { weights[name] = p.value }
    let state = ResumeState(step: step, bestLosses: bestLosses.map { $0.isFinite ? $0 : nil }, bestSteps: bestSteps,
                            trainPosition: trainLoader.position, trainPositions: trainPositions ?? [trainLoader.position],
                            config: config, model: modelConfig, seed: seed,
                            gptFingerprint: gptFingerprint)
    try ResumeStore(runDirectory: runDirectory).save(
      files: [Self.weightsFile: SafeTensorsFile(tensors: weights),
              Self.optimizerFile: SafeTensorsFile(tensors: optimizer.stateTensors())],
      state: state)
  }

  /// The step the run's resume state was written after, or nil when the run has none.
  /// In a data-parallel job, rank 0 reads it and tells the others.
  public func resumeStep() throws -> Int? {
    struct Step: Codable { var step: Int? }
    return try parallel.fromWriter { () throws -> Step in
      let store = ResumeStore(runDirectory: runDirectory)
      guard store.exists else { return Step(step: nil) }
      return Step(step: try store.load(Step.self, files: []).0.step)
    }.step
  }

  /// Restores the trained weights, optimizer state, loader position and best losses; returns the completed
  /// step.
  func loadResumeState() throws -> Int {
    let (state, files) = try ResumeStore(runDirectory: runDirectory)
      .load(ResumeState.self, files: [Self.weightsFile, Self.optimizerFile], parallel: parallel)
    guard state.config.trainer == config.trainer else {
      throw TrainingError("resume state in \(runDirectory.path) was written by the \(state.config.trainer.rawValue) trainer, not \(config.trainer.rawValue)")
    }
    guard state.model.saeConfig == modelConfig.saeConfig else {
      throw TrainingError("resume state in \(runDirectory.path) is for SAE model \(state.model.name) with different sizes, keys, variant or k than \(modelConfig.name)")
    }
    guard state.gptFingerprint == gptFingerprint else {
      throw TrainingError("resume state in \(runDirectory.path) was written with different GPT weights than the GPT checkpoint it starts from")
    }
    guard state.bestLosses.count == layout.count else {
      throw TrainingError("resume state in \(runDirectory.path) has \(state.bestLosses.count) best losses for \(layout.count) loss entries")
    }
    do {
      try NamedParameters(trainedParameters).load(stateDict: files[Self.weightsFile]!.tensors)
      try optimizer.loadState(files[Self.optimizerFile]!.tensors)
    } catch {
      throw TrainingError("resume state in \(runDirectory.path) does not fit this model: \(error)")
    }
    let positions = state.trainPositions ?? [state.trainPosition]
    guard positions.count == parallel.worldSize else {
      throw TrainingError("resume state in \(runDirectory.path) was written by \(positions.count) process(es); resume it with as many (this job has \(parallel.worldSize))")
    }
    try trainLoader.restore(positions[parallel.rank])
    trainPositions = positions
    bestLosses = state.bestLosses.map { $0 ?? .infinity }
    if let steps = state.bestSteps, steps.count == layout.count {
      bestSteps = steps
    } else {
      struct Steps: Codable { var steps: [Int?] }
      bestSteps = try parallel.fromWriter { () throws -> Steps in
        Steps(steps: (try CheckpointSteps.read(from: runDirectory)).map { saved in
          layout.entries.map { saved.steps[model.keys[$0[0]].description] }
        } ?? [Int?](repeating: nil, count: layout.count))
      }.steps
    }
    guard state.step < config.maxSteps else {
      throw TrainingError("run \(config.name) already completed \(state.step) of \(config.maxSteps) steps; raise max_steps to continue")
    }
    return state.step
  }

  // MARK: Helpers

  func debugLine() -> String {
    let c = config, m = modelConfig, g = model.gpt.config
    func list<T>(_ v: [T]) -> String { "(" + v.map { "\($0)" }.joined(separator: ", ") + ")" }
    let lc = c.lossCoefficients
    let coefficients = "{'sparsity': \(lc.sparsity.map(list) ?? "None"), 'regularization': \(lc.regularization.map { "\($0)" } ?? "None"),"
      + " 'downstream': \(lc.downstream.map { "\($0)" } ?? "None"), 'bandwidth': \(lc.bandwidth.map { "\($0)" } ?? "None")}"
    return "name \(c.name) | device cpu | compile False | data_dir \(c.dataDir) | should_randomize True | log_interval \(c.logInterval)"
      + " | eval_interval \(c.evalInterval) | eval_steps \(c.evalSteps) | batch_size \(c.batchSize)"
      + " | gradient_accumulation_steps \(c.gradientAccumulationSteps) | learning_rate \(c.learningRate)"
      + " | warmup_steps \(c.warmupSteps) | max_steps \(c.maxSteps) | decay_lr \(c.decayLR ? "True" : "False")"
      + " | min_lr \(c.minLR) | weight_decay \(trainsGPT ? Self.gptWeightDecay : 0) | grad_clip \(SAETrainingConfig.gradClip)"
      + " | sae_config {'name': '\(m.name)', 'gpt_config': {'name': '\(m.gptConfig)', 'block_size': \(g.blockSize),"
      + " 'vocab_size': \(g.vocabSize), 'n_layer': \(g.nLayer), 'n_head': \(g.nHead), 'n_embd': \(g.nEmbd),"
      + " 'norm_strategy': '\(g.normStrategy.rawValue)'}, 'n_features': \(list(m.nFeatures)), 'sae_variant': '\(m.saeVariant.rawValue)',"
      + " 'top_k': \(m.topK.map(list) ?? "None"), 'sae_keys': \(list(m.saeKeys.map { "'\($0)'" }))}"
      + " | trainable_layers None | loss_coefficients \(coefficients) | trainer \(c.trainer.rawValue) | seed \(seed)"
  }

  static func sameArchitecture(_ a: GPTConfig, _ b: GPTConfig) -> Bool {
    a.blockSize == b.blockSize && a.vocabSize == b.vocabSize && a.nLayer == b.nLayer && a.nHead == b.nHead
      && a.nEmbd == b.nEmbd && a.normStrategy == b.normStrategy
  }

  static func describe(_ c: GPTConfig) -> String {
    "block_size \(c.blockSize), vocab_size \(c.vocabSize), n_layer \(c.nLayer), n_head \(c.nHead), n_embd \(c.nEmbd), \(c.normStrategy.rawValue)"
  }

  /// FNV-1a over the bits of every GPT parameter, to tell whether a resume starts from the same GPT.
  static func fingerprint(_ gpt: GPT) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for (_, p) in gpt.namedParameters {
      p.value.withUnsafeBufferPointer { b in
        for x in b {
          h = (h ^ UInt64(x.bitPattern)) &* 0x0000_0100_0000_01b3
        }
      }
    }
    return String(h, radix: 16)
  }
}

/// A parameter list viewed as a module (for strict loading by name).
final class NamedParameters: Module {
  let namedParameters: [(String, Variable)]
  init(_ named: [(String, Variable)]) { namedParameters = named }
}
