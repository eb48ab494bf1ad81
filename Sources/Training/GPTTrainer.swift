import Autograd
import Foundation
import GPT
import Tensor

/// Trains a GPT with the reference recipe: AdamW (β 0.9/0.95, ε 1e-8, weight decay on matrices),
/// gradient accumulation, global-norm clipping, the warmup/cosine schedule, evaluation on the val split
/// and best-checkpoint saving into `<checkpoints dir>/<name>/`.
public final class GPTTrainer: ResumableTrainer {
  public let config: GPTTrainingConfig
  public let model: GPT
  public let runDirectory: URL
  public let optimizer: AdamW
  public private(set) var trainLoader: TokenDataLoader
  public private(set) var valLoader: TokenDataLoader
  /// Best val loss after step 0 (checkpoints are written when a val loss is ≤ it).
  public private(set) var bestValLoss: Float = .infinity
  /// The step of the saved best checkpoint (nil until the first save).
  public private(set) var bestStep: Int?
  /// Val loss of the latest evaluation.
  public private(set) var lastValLoss: Float = .nan
  let seed: UInt64
  let logger: RunLogger
  /// The processes training is spread over (see `distribute(over:)`).
  public private(set) var parallel = DataParallel.single
  /// Every rank's train-loader position after the latest step (rank order), for the resume state.
  var trainPositions: [TokenDataLoader.Position]?

  /// A trainer for a new model initialised with `seed`, or for `model` when given.
  public init(config: GPTTrainingConfig, checkpointsDirectory: URL, model: GPT? = nil, seed: UInt64 = 0, echo: Bool = true) throws {
    try config.validate()
    self.config = config
    self.seed = seed
    self.model = try model ?? GPT(config: try config.architecture(), seed: seed)
    runDirectory = checkpointsDirectory.appendingPathComponent(config.name)
    optimizer = AdamW(groups: self.model.optimizerGroups(weightDecay: config.weightDecay), learningRate: config.learningRate)
    let dataDir = URL(fileURLWithPath: config.dataDir)
    let t = self.model.config.blockSize
    trainLoader = try TokenDataLoader(directory: dataDir, split: .train, batchSize: config.batchSize, sequenceLength: t)
    valLoader = try TokenDataLoader(directory: dataDir, split: .val, batchSize: config.batchSize, sequenceLength: t)
    logger = RunLogger(directory: runDirectory, echo: echo)
  }

  /// Tokens consumed per optimisation step (by all ranks together).
  public var tokensPerStep: Int {
    config.batchSize * ((try? parallel.localAccumulation(config.gradientAccumulationSteps)) ?? 1) * parallel.worldSize * model.config.blockSize
  }

  /// Spreads training over the ranks of `parallel` (call before `train`, on every rank, with the same
  /// config): each rank reads its own slice of every batch, runs its share of the accumulation steps and
  /// evaluation batches; gradients and evaluations are averaged; only rank 0 logs and writes files.
  public func distribute(over parallel: DataParallel) throws {
    (trainLoader, valLoader) = try parallel.rankLoaders(
      dataDir: config.dataDir, batchSize: config.batchSize, sequenceLength: model.config.blockSize,
      accumulation: config.gradientAccumulationSteps, evalSteps: config.evalSteps, logger: logger)
    self.parallel = parallel
  }

  /// Runs training from step 1, or continues from the run's resume state when `resume` is set.
  /// `stopAfter` stops early (as if interrupted) after that step; at each of `milestones` (evaluation steps)
  /// the best checkpoint is copied into `milestones/step-NNNNNN/`. Returns the last completed step.
  @discardableResult
  public func train(resume: Bool = false, stopAfter: Int? = nil, milestones: Set<Int> = []) throws -> Int {
    try runLoop(resume: resume, stopAfter: stopAfter, milestones: milestones)
  }

  func debugLine() -> String {
    let c = config, m = model.config
    return "name \(c.name) | device cpu | compile False | data_dir \(c.dataDir) | should_randomize True | log_interval \(c.logInterval)"
      + " | eval_interval \(c.evalInterval) | eval_steps \(c.evalSteps) | batch_size \(c.batchSize)"
      + " | gradient_accumulation_steps \(c.gradientAccumulationSteps) | learning_rate \(c.learningRate)"
      + " | warmup_steps \(c.warmupSteps) | max_steps \(c.maxSteps) | decay_lr \(c.decayLR ? "True" : "False")"
      + " | min_lr \(c.minLR) | weight_decay \(c.weightDecay) | grad_clip \(c.gradClip.map { "\($0)" } ?? "None")"
      + " | gpt_config {'name': '\(c.gptConfig)', 'block_size': \(m.blockSize), 'vocab_size': \(m.vocabSize), 'n_layer': \(m.nLayer),"
      + " 'n_head': \(m.nHead), 'n_embd': \(m.nEmbd), 'norm_strategy': '\(m.normStrategy.rawValue)'} | seed \(seed)"
  }

  public func trainStep(step: Int, learningRate: Float) throws -> (losses: [Float], gradNorm: Float) {
    model.zeroGrad()
    let accumulation = try parallel.localAccumulation(config.gradientAccumulationSteps)
    var total: Float = 0
    for _ in 0..<accumulation {
      let (x, y) = try trainLoader.nextBatch()
      let loss = try model.loss(x, targets: y)
      let value = loss.value.scalar
      guard value.isFinite else {
        throw nonFiniteStop("loss became \(value) at step \(step)" + (NonFinite.locate(in: model, tokens: x).map { " (first non-finite: \($0))" } ?? ""))
      }
      total += value / Float(accumulation)
      (accumulation == 1 ? loss : loss * (1 / Float(accumulation))).backward()
    }
    let reduced = try parallel.reduceStep(parameters: model.parameters, losses: [total], position: trainLoader.position)
    trainPositions = reduced.positions
    let norm = clipGradNorm(model.parameters, maxNorm: config.gradClip ?? .infinity)
    guard norm.isFinite else {
      throw nonFiniteStop("gradient norm became \(norm) at step \(step)" + NonFinite.gradientNote(model.namedParameters))
    }
    optimizer.learningRate = learningRate
    optimizer.step()
    return (reduced.losses, norm)
  }

  public func evaluate(step: Int) throws -> [(String, LogValue)] {
    let loss = try GPTEvaluation.meanLoss(model: model, loader: &valLoader, batches: config.evalSteps, parallel: parallel)
    lastValLoss = loss
    guard loss.isFinite else {
      valLoader.reset()
      let place = try NonFinite.locate(in: model, tokens: valLoader.nextBatch().0).map { " (first non-finite: \($0))" } ?? ""
      throw nonFiniteStop("val loss became \(loss) at the evaluation after step \(step)\(place)")
    }
    var saved = false
    if step > 0 && loss <= bestValLoss {
      bestValLoss = loss
      bestStep = step
      if parallel.isWriter {
        try GPTCheckpoint.save(model, to: runDirectory)
        try CheckpointSteps(steps: [CheckpointSteps.modelKey: step]).write(to: runDirectory)
      }
      saved = true
    }
    return [("loss", .float(loss)), ("checkpoint", .bool(saved))]
  }

  /// The error that stops the run on a non-finite value, naming the last good checkpoint.
  func nonFiniteStop(_ what: String) -> TrainingError {
    NonFinite.stop(what, runDirectory: runDirectory, checkpoint: bestStep.map { "step \($0)" })
  }

  struct ResumeState: Codable {
    var step: Int
    var bestValLoss: Float?
    /// The step of the saved best checkpoint (absent in states written before steps were recorded).
    var bestStep: Int?
    var trainPosition: TokenDataLoader.Position
    /// Every rank's train-loader position (absent in states written before data-parallel runs; then one rank).
    var trainPositions: [TokenDataLoader.Position]?
    var config: GPTTrainingConfig
    var seed: UInt64
  }

  public func saveResumeState(step: Int) throws {
    guard parallel.isWriter else { return }
    var weights: [String: Tensor] = [:]
    for (name, p) in model.namedParameters { weights[name] = p.value }
    let state = ResumeState(step: step, bestValLoss: bestValLoss.isFinite ? bestValLoss : nil, bestStep: bestStep,
                            trainPosition: trainLoader.position, trainPositions: trainPositions ?? [trainLoader.position],
                            config: config, seed: seed)
    try ResumeStore(runDirectory: runDirectory).save(
      files: ["model.safetensors": SafeTensorsFile(tensors: weights),
              "optimizer.safetensors": SafeTensorsFile(tensors: optimizer.stateTensors())],
      state: state)
  }

  /// Restores weights, optimizer, loader position and best loss; returns the completed step.
  func loadResumeState() throws -> Int {
    let (state, files) = try ResumeStore(runDirectory: runDirectory)
      .load(ResumeState.self, files: ["model.safetensors", "optimizer.safetensors"], parallel: parallel)
    guard state.config.gptConfig == config.gptConfig else {
      throw TrainingError("resume state in \(runDirectory.path) is for architecture \(state.config.gptConfig), not \(config.gptConfig)")
    }
    do {
      try model.load(stateDict: files["model.safetensors"]!.tensors)
      try optimizer.loadState(files["optimizer.safetensors"]!.tensors)
    } catch {
      throw TrainingError("resume state in \(runDirectory.path) does not fit this model: \(error)")
    }
    let positions = state.trainPositions ?? [state.trainPosition]
    guard positions.count == parallel.worldSize else {
      throw TrainingError("resume state in \(runDirectory.path) was written by \(positions.count) process(es); resume it with as many (this job has \(parallel.worldSize))")
    }
    try trainLoader.restore(positions[parallel.rank])
    trainPositions = positions
    bestValLoss = state.bestValLoss ?? .infinity
    bestStep = state.bestStep
    if bestStep == nil { bestStep = try parallel.fromWriter { try CheckpointSteps.read(from: runDirectory)?.steps[CheckpointSteps.modelKey] ?? -1 } }
    if bestStep == -1 { bestStep = nil }
    guard state.step < config.maxSteps else {
      throw TrainingError("run \(config.name) already completed \(state.step) of \(config.maxSteps) steps; raise max_steps to continue")
    }
    return state.step
  }
}

/// Loss evaluation of a GPT on a split.
public enum GPTEvaluation {
  /// Resets `loader` and averages the mean next-token loss over `batches` batches (no gradients; a window
  /// the loader repeats is computed once, see `TokenDataLoader.mapBatches`).
  /// With several ranks (`parallel`), each computes its share of the batches (`DataParallel.localBatches`)
  /// from its rank-offset loader and the mean is taken over all of them.
  public static func meanLoss(model: GPT, loader: inout TokenDataLoader, batches: Int,
                              parallel: DataParallel = .single) throws -> Float {
    loader.reset()
    let local = try parallel.localBatches(batches)
    let losses = try withNoGrad {
      try loader.mapBatches(local) { x, y in try model.loss(x, targets: y).value.scalar }
    }
    var total: Double = 0
    for loss in losses { total += Double(loss) }
    return Float(try parallel.sum([total])[0] / Double(batches))
  }
}
