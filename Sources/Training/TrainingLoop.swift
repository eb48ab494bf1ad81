import Foundation

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
}

/// The reference training schedule: evaluate at step 0, train steps 1…maxSteps, log every `logInterval`
/// steps, evaluate every `evalInterval` steps and at the last step; a resume state is written after every
/// evaluation (and when stopping early at `stopAfter`).
public struct TrainingLoop {
  public var schedule: LearningRateSchedule
  public var logInterval: Int
  public var evalInterval: Int
  /// First step to run (1 for a new run, k + 1 when resuming after step k).
  public var firstStep: Int
  /// Stop after this step as if interrupted (a resume state is written); nil = run to maxSteps.
  public var stopAfter: Int?
  /// Tokens consumed per step, for the progress line.
  public var tokensPerStep: Int
  public var logger: RunLogger

  public init(schedule: LearningRateSchedule, logInterval: Int, evalInterval: Int, firstStep: Int = 1,
              stopAfter: Int? = nil, tokensPerStep: Int, logger: RunLogger) {
    self.schedule = schedule
    self.logInterval = logInterval
    self.evalInterval = evalInterval
    self.firstStep = firstStep
    self.stopAfter = stopAfter
    self.tokensPerStep = tokensPerStep
    self.logger = logger
  }

  /// Runs the schedule on `task`. Returns the last completed step.
  @discardableResult
  public func run(_ task: TrainingTask) throws -> Int {
    let maxSteps = schedule.maxSteps
    if firstStep == 1 { try evaluate(task, step: 0) }
    let start = monotonicSeconds()
    var lastLoss: [Float] = []
    var step = firstStep - 1
    while step < maxSteps {
      step += 1
      let t0 = monotonicSeconds()
      let lr = schedule.rate(at: step)
      let (losses, norm) = try task.trainStep(step: step, learningRate: lr)
      lastLoss = losses
      let dt = monotonicSeconds() - t0
      if step % logInterval == 0 {
        try logger.log(LogLine([("type", .text("train")), ("step", .int(step)),
                                ("loss", losses.count == 1 ? .float(losses[0]) : .vector(losses)),
                                ("lr", LogLine.learningRate(lr)), ("norm", .float(norm)), ("dt", LogLine.seconds(dt))]),
                       to: .train)
      }
      if step % evalInterval == 0 || step == maxSteps {
        try evaluate(task, step: step)
        try task.saveResumeState(step: step)
      }
      if let stopAfter, step >= stopAfter, step < maxSteps {
        if step % evalInterval != 0 { try task.saveResumeState(step: step) }
        Terminal.clearProgress()
        return step
      }
      let elapsed = monotonicSeconds() - start
      let done = step - firstStep + 1
      let perStep = elapsed / Double(done)
      let lossText = lastLoss.map { String(format: "%.4f", $0) }.joined(separator: " ")
      Terminal.progress("step \(step)/\(maxSteps) | loss \(lossText) | "
                        + String(format: "%.0f tok/s", Double(tokensPerStep) / perStep)
                        + " | ETA \(Terminal.duration(perStep * Double(maxSteps - step)))")
    }
    Terminal.clearProgress()
    return step
  }

  func evaluate(_ task: TrainingTask, step: Int) throws {
    let fields = try task.evaluate(step: step)
    try logger.log(LogLine([("type", .text("eval")), ("step", .int(step))] + fields), to: .eval)
  }
}

/// A trainer that owns a run directory with logs and a resume state, and runs `TrainingLoop` on itself.
protocol ResumableTrainer: TrainingTask {
  associatedtype Config: TrainingLoopSettings
  var config: Config { get }
  var runDirectory: URL { get }
  var logger: RunLogger { get }
  var tokensPerStep: Int { get }
  /// Restores the state written after the latest evaluation; returns the step it was written after.
  func loadResumeState() throws -> Int
  /// The run's config as the `debug.log` line.
  func debugLine() -> String
}

extension ResumableTrainer {
  /// Runs the schedule from step 1 (creating the run directory and its `debug.log` line), or continues from
  /// the resume state when `resume` is set; `stopAfter` stops early as if interrupted. Returns the last step.
  func runLoop(resume: Bool, stopAfter: Int?) throws -> Int {
    var first = 1
    if resume {
      first = try loadResumeState() + 1
      try logger.append("resuming \(config.name) after step \(first - 1)", to: .debug)
    } else {
      try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
      try logger.append(debugLine(), to: .debug)
    }
    let loop = TrainingLoop(schedule: config.schedule, logInterval: config.logInterval, evalInterval: config.evalInterval,
                            firstStep: first, stopAfter: stopAfter, tokensPerStep: tokensPerStep, logger: logger)
    return try loop.run(self)
  }
}
