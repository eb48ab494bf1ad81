import Foundation
import GPT
import SAE
import Tensor

/// Several concurrent-trainer SAE runs on one frozen GPT and the same batches, trained together in one
/// process: each step runs the GPT once per batch for all of them (`SharedActivations`), then every run takes
/// its own optimisation step, evaluation, checkpoints, logs and resume state exactly as it would alone. Runs
/// may differ in SAE model, loss, schedule and length; they must read the same data with the same batch shape.
public final class SAETrainingGroup {
  public let trainers: [ConcurrentSAETrainer]
  /// The GPT forward the trainers share.
  public let shared: SharedActivations
  /// Polled before each round of steps: a signal number stops every unfinished run after its current step,
  /// with its resume state written (`StopError`). Default: SIGINT or SIGTERM (`StopRequest.pending`).
  public var stopRequest: () -> Int32? = { StopRequest.pending }
  /// The processes the runs are spread over (see `distribute(over:)`).
  public private(set) var parallel = DataParallel.single

  /// A group of `trainers` (at least one). Throws a one-line error when they do not share the GPT weights,
  /// the dataset, the batch shape, or when two would write the same run directory. `retainedBytes` of clean
  /// activations are kept for later epochs (`SharedActivations`).
  public init(trainers: [ConcurrentSAETrainer], retainedBytes: Int = 0) throws {
    guard let first = trainers.first else { throw TrainingError("an SAE training group needs at least one run") }
    for t in trainers.dropFirst() {
      func differ(_ what: String, _ a: String, _ b: String) -> TrainingError {
        TrainingError("runs \(first.config.name) and \(t.config.name) cannot train together: \(what) differ (\(a) vs \(b))")
      }
      guard t.gptFingerprint == first.gptFingerprint else { throw differ("their GPT weights", first.gptFingerprint, t.gptFingerprint) }
      guard t.config.dataDir == first.config.dataDir else { throw differ("their data directories", first.config.dataDir, t.config.dataDir) }
      guard t.config.batchSize == first.config.batchSize else {
        throw differ("their batch sizes", "\(first.config.batchSize)", "\(t.config.batchSize)")
      }
      guard t.config.gradientAccumulationSteps == first.config.gradientAccumulationSteps else {
        throw differ("their gradient accumulation steps", "\(first.config.gradientAccumulationSteps)", "\(t.config.gradientAccumulationSteps)")
      }
    }
    var directories = Set<String>()
    for t in trainers where !directories.insert(t.runDirectory.standardizedFileURL.path).inserted {
      throw TrainingError("two runs of the group would write the same directory \(t.runDirectory.path) (give them different names)")
    }
    self.trainers = trainers
    shared = SharedActivations(gpt: first.model.gpt, keys: trainers.flatMap(\.activationKeys),
                               capacity: first.config.gradientAccumulationSteps, retainedBytes: retainedBytes)
    for t in trainers { t.sharedActivations = shared }
  }

  /// Spreads every run over the ranks of `parallel` (`SAETrainer.distribute(over:)`); the group then stops
  /// on the stop request all ranks agreed on in their latest step.
  public func distribute(over parallel: DataParallel) throws {
    for t in trainers { try t.distribute(over: parallel) }
    self.parallel = parallel
    if parallel.worldSize > 1 { stopRequest = { parallel.agreedStop } }
  }

  /// Trains every run from step 1, or from its resume state when `resume` is set (runs whose resume state is
  /// already at their last step are skipped; runs without one start from step 1, with a notice). The runs advance in lock-step, one step each in turn, until
  /// each reaches its last step or `stopAfter`; each copies its best checkpoint at the `milestones` up to its
  /// own max_steps and, at its last step, reloads and evaluates its best checkpoint. Returns each run's last
  /// completed step.
  @discardableResult
  public func train(resume: Bool = false, stopAfter: Int? = nil, milestones: Set<Int> = []) throws -> [Int] {
    var runs: [TrainingRun?] = []
    for t in trainers {
      let resumeStep = resume ? try t.resumeStep() : nil
      if let done = resumeStep, done >= t.config.maxSteps {
        if t.logger.echo && parallel.isWriter { Terminal.line("run \(t.config.name) already completed \(done) steps; skipping it") }
        runs.append(nil)
        continue
      }
      if resume && resumeStep == nil && t.logger.echo && parallel.isWriter {
        Terminal.line("run \(t.config.name) has no resume state in \(t.runDirectory.path); starting it from step 1")
      }
      runs.append(try t.prepareRun(resume: resumeStep != nil, stopAfter: stopAfter,
                                   milestones: milestones.filter { $0 <= t.config.maxSteps }))
    }
    // Keep only batches some run reads again (the runs advance in lock-step on the same loader windows).
    if shared.retainedBytes > 0, let first = trainers.first {
      shared.retainedBatchLimit = SharedActivations.batchLimit(
        epoch: try first.trainLoader.batchesPerEpoch(), reads: try trainers.map { try $0.batchReads },
        evalSteps: trainers.map(\.config.evalSteps).max() ?? 0)
    }
    for run in runs { try run?.start() }
    while runs.contains(where: { $0.map { !$0.isDone } ?? false }) {
      // A stop request ends the round in progress: every unfinished run writes the resume state of its step.
      if let signal = stopRequest() {
        Terminal.clearProgress()
        let stopped = runs.compactMap { $0 }.filter { !$0.isDone }
        for run in stopped { try run.stop() }
        throw StopError.training(signal: signal, stopped)
      }
      for run in runs { if let run, !run.isDone { try run.advance() } }
      Terminal.progress(zip(trainers, runs).compactMap { t, run in
        run.map { "\(t.config.name) \($0.step)/\(t.config.maxSteps)" }
      }.joined(separator: " | ") + progressETA(runs))
    }
    Terminal.clearProgress()
    var last: [Int] = []
    for (t, run) in zip(trainers, runs) {
      guard let run else { last.append(t.config.maxSteps); continue }
      if run.step == t.config.maxSteps && parallel.isWriter { try t.finish() }
      last.append(run.step)
    }
    return last
  }

  /// ` | ETA 1h 02m` for the longest remaining run, at the group's seconds per step.
  private func progressETA(_ runs: [TrainingRun?]) -> String {
    guard let slowest = runs.compactMap({ $0 }).filter({ !$0.isDone })
      .max(by: { $0.loop.schedule.maxSteps - $0.step < $1.loop.schedule.maxSteps - $1.step }) else { return "" }
    return " | ETA " + Terminal.duration(slowest.secondsPerStep * Double(slowest.loop.schedule.maxSteps - slowest.step))
  }
}
