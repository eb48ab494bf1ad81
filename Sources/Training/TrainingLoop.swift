import Foundation
import Tensor

/// What the training loop drives: one optimisation step, evaluation with checkpointing, resume state.
public protocol TrainingTask: AnyObject {
  /// Performs optimisation step `step` (1-based) with `learningRate`; returns the loss values to log
  /// (one for a GPT, one per SAE for SAE training) and the pre-clip gradient norm.
  func trainStep(step: Int, learningRate: Float) throws -> (losses: [Float], gradNorm: Float)
  /// Evaluates after `step` steps, saves checkpoints that improved, and returns the eval log fields
  /// that follow `type eval | step N`.
  func evaluate(step: Int) throws -> [(String, LogValue)]
  /// Writes everything needed to continue after `step` completed steps.
  func saveResumeState(step: Int) throws
  /// Keeps a copy of the best checkpoint as it stands after `step` steps (a milestone).
  func keepCheckpoint(step: Int) throws
}

/// The reference training schedule: evaluate at step 0, train steps 1…maxSteps, log every `logInterval`
/// steps, evaluate every `evalInterval` steps and at the last step; a resume state is written after every
/// evaluation (and when stopping early at `stopAfter`). At the evaluations of `milestones`, a copy of the best
/// checkpoint is kept before the resume state is written.
public struct TrainingLoop {
  public var schedule: LearningRateSchedule
  public var logInterval: Int
  public var evalInterval: Int
  /// First step to run (1 for a new run, k + 1 when resuming after step k).
  public var firstStep: Int
  /// Stop after this step as if interrupted (a resume state is written); nil = run to maxSteps.
  public var stopAfter: Int?
  /// Steps after whose evaluation the best checkpoint is copied (each must be an evaluation step).
  public var milestones: Set<Int>
  /// Tokens consumed per step, for the progress line.
  public var tokensPerStep: Int
  public var logger: RunLogger

  public init(schedule: LearningRateSchedule, logInterval: Int, evalInterval: Int, firstStep: Int = 1,
              stopAfter: Int? = nil, milestones: Set<Int> = [], tokensPerStep: Int, logger: RunLogger) {
    self.schedule = schedule
    self.logInterval = logInterval
    self.evalInterval = evalInterval
    self.firstStep = firstStep
    self.stopAfter = stopAfter
    self.milestones = milestones
    self.tokensPerStep = tokensPerStep
    self.logger = logger
  }

  /// Whether the loop evaluates after `step`.
  public func evaluates(after step: Int) -> Bool { step == 0 || step % evalInterval == 0 || step == schedule.maxSteps }

  /// Runs the schedule on `task`. Returns the last completed step.
  @discardableResult
  public func run(_ task: TrainingTask) throws -> Int {
    try TrainingRun(loop: self, task: task).runToEnd()
  }
}

/// One run of a `TrainingLoop` on a task, advanced one step at a time, so that several runs can be
/// interleaved in one process (`SAETrainingGroup`).
public final class TrainingRun {
  public let loop: TrainingLoop
  public let task: TrainingTask
  /// The last completed step.
  public private(set) var step: Int
  /// Whether the run reached its last step or its `stopAfter` step.
  public private(set) var isDone = false
  /// The step of the resume state on disk as far as this run knows (the step a resumed run starts after).
  public private(set) var resumeStateStep: Int?
  /// How messages name the run, and its directory.
  public var label = "run"
  public var directory: URL?
  /// The claim on the run directory, held as long as the run exists.
  var lock: DirectoryLock?
  /// Polled by `runToEnd` before each step: a signal number stops the run there (`StopRequest.pending` by
  /// default, i.e. SIGINT or SIGTERM once a tool installed the handlers).
  public var stopRequest: () -> Int32? = { StopRequest.pending }
  private var startTime = 0.0
  private var lastLoss: [Float] = []

  public init(loop: TrainingLoop, task: TrainingTask) {
    self.loop = loop
    self.task = task
    step = loop.firstStep - 1
    resumeStateStep = loop.firstStep > 1 ? step : nil
  }

  /// Runs the schedule to its end (see `TrainingLoop`); returns the last completed step. A stop request
  /// (`stopRequest`) is honoured between steps: the resume state of the last completed step is written and
  /// `StopError` thrown.
  public func runToEnd() throws -> Int {
    try start()
    while !isDone {
      if let signal = stopRequest() {
        Terminal.clearProgress()
        try stop()
        throw StopError.training(signal: signal, [self])
      }
      try advance()
      Terminal.progress(progressText)
    }
    Terminal.clearProgress()
    return step
  }

  /// Writes the resume state of the last completed step unless it is on disk already (for a stop between
  /// steps; the run can continue from it with `--resume`).
  public func stop() throws {
    guard resumeStateStep != step else { return }
    try task.saveResumeState(step: step)
    resumeStateStep = step
  }

  /// Evaluates at step 0 for a new run; starts the clock.
  public func start() throws {
    if loop.firstStep == 1 { try evaluate(step: 0) }
    isDone = step >= loop.schedule.maxSteps
    startTime = monotonicSeconds()
  }

  /// Runs the next step (with its logging, evaluation, milestone and resume state); returns false once the
  /// run is done (nothing is run then).
  @discardableResult
  public func advance() throws -> Bool {
    guard !isDone else { return false }
    step += 1
    let t0 = monotonicSeconds()
    let lr = loop.schedule.rate(at: step)
    let (losses, norm) = try task.trainStep(step: step, learningRate: lr)
    lastLoss = losses
    let dt = monotonicSeconds() - t0
    if step % loop.logInterval == 0 {
      try loop.logger.log(LogLine([("type", .text("train")), ("step", .int(step)),
                                   ("loss", losses.count == 1 ? .float(losses[0]) : .vector(losses)),
                                   ("lr", LogLine.learningRate(lr)), ("norm", .float(norm)), ("dt", LogLine.seconds(dt))]),
                          to: .train)
    }
    let evaluated = loop.evaluates(after: step)
    if evaluated {
      try evaluate(step: step)
      if loop.milestones.contains(step) { try task.keepCheckpoint(step: step) }
      try task.saveResumeState(step: step)
      resumeStateStep = step
    }
    if step >= loop.schedule.maxSteps {
      isDone = true
    } else if let stopAfter = loop.stopAfter, step >= stopAfter {
      try stop()
      isDone = true
    }
    return !isDone
  }

  /// `step 120/7500 | loss … | 5123 tok/s | ETA 1h 02m`.
  public var progressText: String {
    let maxSteps = loop.schedule.maxSteps
    let done = Swift.max(1, step - loop.firstStep + 1)
    let perStep = (monotonicSeconds() - startTime) / Double(done)
    let lossText = lastLoss.map { String(format: "%.4f", $0) }.joined(separator: " ")
    return "step \(step)/\(maxSteps) | loss \(lossText) | " + String(format: "%.0f tok/s", Double(loop.tokensPerStep) / perStep)
      + " | ETA \(Terminal.duration(perStep * Double(maxSteps - step)))"
  }

  /// Seconds per step since `start()`.
  public var secondsPerStep: Double {
    (monotonicSeconds() - startTime) / Double(Swift.max(1, step - loop.firstStep + 1))
  }

  private func evaluate(step: Int) throws {
    let fields = try task.evaluate(step: step)
    try loop.logger.log(LogLine([("type", .text("eval")), ("step", .int(step))] + fields), to: .eval)
  }
}

/// A trainer that owns a run directory with logs and a resume state, and runs `TrainingLoop` on itself.
protocol ResumableTrainer: TrainingTask {
  associatedtype Config: TrainingLoopSettings
  var config: Config { get }
  var runDirectory: URL { get }
  var logger: RunLogger { get }
  var tokensPerStep: Int { get }
  /// The processes the run is spread over (`DataParallel.single` for one); only rank 0 writes files.
  var parallel: DataParallel { get }
  /// Restores the state written after the latest evaluation; returns the step it was written after.
  func loadResumeState() throws -> Int
  /// The run's config as the `debug.log` line.
  func debugLine() -> String
}

extension ResumableTrainer {
  /// The run of the schedule from step 1 (creating the run directory and its `debug.log` line), or from the
  /// resume state when `resume` is set; `stopAfter` stops early as if interrupted; the best checkpoint is
  /// copied at each of `milestones` (evaluation steps). Not started yet.
  func prepareRun(resume: Bool, stopAfter: Int?, milestones: Set<Int>) throws -> TrainingRun {
    let loop = TrainingLoop(schedule: config.schedule, logInterval: config.logInterval, evalInterval: config.evalInterval,
                            stopAfter: stopAfter, milestones: milestones, tokensPerStep: tokensPerStep, logger: logger)
    if let bad = milestones.sorted().first(where: { $0 < 1 || $0 > config.maxSteps || !loop.evaluates(after: $0) }) {
      throw TrainingError("milestone step \(bad) of run \(config.name) is not an evaluation step (multiples of eval_interval \(config.evalInterval), or max_steps \(config.maxSteps))")
    }
    // Only the writing rank (rank 0 of a data-parallel job) claims and tidies the run directory.
    let lock = parallel.isWriter
      ? try DirectoryLock(directory: runDirectory, subject: "run directory \(runDirectory.path)",
                          notice: { if self.logger.echo { Terminal.line($0) } })
      : nil
    if parallel.isWriter { removeInterruptedWrites() }
    var first = 1
    if resume {
      first = try loadResumeState() + 1
      try logger.append("resuming \(config.name) after step \(first - 1)", to: .debug)
    } else {
      try logger.append(debugLine(), to: .debug)
    }
    var started = loop
    started.firstStep = first
    let run = TrainingRun(loop: started, task: self)
    run.label = config.name
    run.directory = runDirectory
    run.lock = lock
    if parallel.worldSize > 1 {
      // Every rank stops after the same step: the one whose allreduce carried a rank's stop request.
      let parallel = self.parallel
      run.stopRequest = { parallel.agreedStop }
    }
    return run
  }

  /// Runs the schedule (see `prepareRun`) to its end or to `stopAfter`. Returns the last completed step.
  func runLoop(resume: Bool, stopAfter: Int?, milestones: Set<Int> = []) throws -> Int {
    try prepareRun(resume: resume, stopAfter: stopAfter, milestones: milestones).runToEnd()
  }

  /// Removes what writes cut short by a crash left in the run directory (temporary files of atomic writes,
  /// an unfinished resume state or milestone copy), with a notice. Only called while holding the run's lock.
  func removeInterruptedWrites() {
    let fm = FileManager.default
    var removed = AtomicFile.removeStaleTemporaries(in: runDirectory)
    let partial = ResumeStore(runDirectory: runDirectory).partial
    if fm.fileExists(atPath: partial.path), (try? fm.removeItem(at: partial)) != nil { removed.append(partial.lastPathComponent) }
    let milestones = runDirectory.appendingPathComponent("milestones")
    for name in (try? fm.contentsOfDirectory(atPath: milestones.path)) ?? [] where name.hasPrefix(".") && name.contains(".partial-") {
      if (try? fm.removeItem(at: milestones.appendingPathComponent(name))) != nil { removed.append("milestones/" + name) }
    }
    if !removed.isEmpty && logger.echo {
      Terminal.line("notice: removed what interrupted writes left in \(runDirectory.path): \(removed.joined(separator: ", "))")
    }
  }

  /// Copies the run's checkpoint files (`CheckpointFiles`) into `milestones/step-NNNNNN/` (replacing an
  /// earlier copy of the same step).
  public func keepCheckpoint(step: Int) throws {
    guard parallel.isWriter else { return }
    try CheckpointFiles.copy(from: runDirectory, to: CheckpointFiles.milestoneDirectory(runDirectory, step: step))
  }
}
