import Foundation
import GPT

/// Settings of a GPT training run; field names (JSON keys) follow the reference's `TrainingConfig`.
public struct GPTTrainingConfig: TrainingLoopSettings, Codable, Equatable, Sendable {
  /// Run name; the run writes `<checkpoints dir>/<name>/`.
  public var name: String
  /// Name of the GPT architecture preset (`GPTConfig.preset`).
  public var gptConfig: String
  public var dataDir: String
  public var logInterval: Int
  public var evalInterval: Int
  public var evalSteps: Int
  public var batchSize: Int
  public var gradientAccumulationSteps: Int
  public var learningRate: Float
  public var warmupSteps: Int
  public var maxSteps: Int
  public var decayLR: Bool
  public var minLR: Float
  public var weightDecay: Float
  /// Global gradient-norm clip; nil = no clipping.
  public var gradClip: Float?

  public init(name: String, gptConfig: String, dataDir: String = "data/shakespeare", logInterval: Int = 10,
              evalInterval: Int = 250, evalSteps: Int = 100, batchSize: Int, gradientAccumulationSteps: Int = 1,
              learningRate: Float, warmupSteps: Int, maxSteps: Int, decayLR: Bool, minLR: Float = 0,
              weightDecay: Float = 0.1, gradClip: Float? = 1.0) {
    self.name = name
    self.gptConfig = gptConfig
    self.dataDir = dataDir
    self.logInterval = logInterval
    self.evalInterval = evalInterval
    self.evalSteps = evalSteps
    self.batchSize = batchSize
    self.gradientAccumulationSteps = gradientAccumulationSteps
    self.learningRate = learningRate
    self.warmupSteps = warmupSteps
    self.maxSteps = maxSteps
    self.decayLR = decayLR
    self.minLR = minLR
    self.weightDecay = weightDecay
    self.gradClip = gradClip
  }

  enum CodingKeys: String, CodingKey {
    case name, gptConfig = "gpt_config", dataDir = "data_dir", logInterval = "log_interval"
    case evalInterval = "eval_interval", evalSteps = "eval_steps", batchSize = "batch_size"
    case gradientAccumulationSteps = "gradient_accumulation_steps", learningRate = "learning_rate"
    case warmupSteps = "warmup_steps", maxSteps = "max_steps", decayLR = "decay_lr", minLR = "min_lr"
    case weightDecay = "weight_decay", gradClip = "grad_clip"
  }

  /// The architecture this run trains.
  public func architecture() throws -> GPTConfig {
    guard let c = GPTConfig.preset(gptConfig) else {
      throw TrainingError("unknown GPT architecture '\(gptConfig)' (known: \(GPTConfig.presetNames.joined(separator: ", ")))")
    }
    return c
  }

  /// Throws a one-line error naming the first invalid field.
  public func validate() throws {
    func check(_ ok: Bool, _ message: String) throws { if !ok { throw TrainingError("invalid training config: \(message)") } }
    try validateLoop(minimumSteps: 0, check)
    _ = try architecture()
    try check(!decayLR || maxSteps > warmupSteps || maxSteps == 0,
              "with decay_lr, max_steps (\(maxSteps)) must exceed warmup_steps (\(warmupSteps))")
    if let c = gradClip { try check(c > 0, "grad_clip must be positive, got \(c)") }
  }
}

extension GPTTrainingConfig {
  /// Names of the reference's GPT training presets.
  public static let presetNames = ["shakespeare_64x4", "shakespeare_64x4_dyt", "shakespeare_128x6", "stories_32x4", "stories_256x4"]

  /// The reference's GPT training presets (compiled in; `config/gpt/*.json` mirrors them).
  public static func preset(_ name: String) -> GPTTrainingConfig? {
    switch name {
    case "shakespeare_64x4":
      return GPTTrainingConfig(name: name, gptConfig: "ascii_64x4", batchSize: 128, learningRate: 1e-3, warmupSteps: 1000,
                               maxSteps: 10_000, decayLR: true, minLR: 1e-5)
    case "shakespeare_64x4_dyt":
      return GPTTrainingConfig(name: name, gptConfig: "ascii_64x4_dyt", batchSize: 128, learningRate: 1e-3, warmupSteps: 1000,
                               maxSteps: 20_000, decayLR: true, minLR: 1e-5)
    case "shakespeare_128x6":
      return GPTTrainingConfig(name: name, gptConfig: "ascii_128x6", batchSize: 128, learningRate: 1e-3, warmupSteps: 300,
                               maxSteps: 3000, decayLR: true, minLR: 1e-4)
    case "stories_32x4":
      return GPTTrainingConfig(name: name, gptConfig: "tiktoken_32x4", dataDir: "data/tiny_stories_10m", batchSize: 128,
                               gradientAccumulationSteps: 8, learningRate: 1e-3, warmupSteps: 0, maxSteps: 5000, decayLR: false)
    case "stories_256x4":
      return GPTTrainingConfig(name: name, gptConfig: "tiktoken_256x4", dataDir: "data/tiny_stories", batchSize: 512,
                               gradientAccumulationSteps: 8, learningRate: 1e-3, warmupSteps: 0, maxSteps: 5000, decayLR: false)
    default: return nil
    }
  }
}
