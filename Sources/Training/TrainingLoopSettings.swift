/// The optimisation-loop fields that GPT and SAE training configs share (the reference's `TrainingConfig`
/// fields): batch shape, step counts, schedule and logging cadence.
public protocol TrainingLoopSettings {
  var name: String { get set }
  var dataDir: String { get set }
  var logInterval: Int { get set }
  var evalInterval: Int { get set }
  var evalSteps: Int { get set }
  var batchSize: Int { get set }
  var gradientAccumulationSteps: Int { get set }
  var learningRate: Float { get set }
  var warmupSteps: Int { get set }
  var maxSteps: Int { get set }
  var decayLR: Bool { get set }
  var minLR: Float { get set }
}

extension TrainingLoopSettings {
  /// The learning-rate schedule of this run.
  public var schedule: LearningRateSchedule {
    LearningRateSchedule(peak: learningRate, warmupSteps: warmupSteps, maxSteps: maxSteps, decay: decayLR, minimum: minLR)
  }

  /// Checks the shared fields with `check(condition, message)`, which throws on the first failure;
  /// `minimumSteps` is the smallest valid `max_steps`.
  func validateLoop(minimumSteps: Int, _ check: (Bool, String) throws -> Void) throws {
    try check(!name.isEmpty && !name.contains("/"), "name '\(name)' must be non-empty and contain no '/'")
    try check(batchSize > 0, "batch_size must be positive, got \(batchSize)")
    try check(gradientAccumulationSteps > 0, "gradient_accumulation_steps must be positive, got \(gradientAccumulationSteps)")
    try check(maxSteps >= minimumSteps, "max_steps must be at least \(minimumSteps), got \(maxSteps)")
    try check(warmupSteps >= 0, "warmup_steps must be ≥ 0, got \(warmupSteps)")
    try check(evalInterval > 0, "eval_interval must be positive, got \(evalInterval)")
    try check(evalSteps > 0, "eval_steps must be positive, got \(evalSteps)")
    try check(logInterval > 0, "log_interval must be positive, got \(logInterval)")
    try check(learningRate.isFinite && learningRate >= 0, "learning_rate must be ≥ 0, got \(learningRate)")
    try check(minLR.isFinite && minLR >= 0, "min_lr must be ≥ 0, got \(minLR)")
  }
}
