import ArgumentParser
import CommandSupport
import Foundation
import GPT
import Training

struct TrainGPT: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train-gpt",
    abstract: "Train a GPT language model with the reference recipe (AdamW, warmup + cosine schedule, best-checkpoint saving).",
    discussion: """
      The run writes <checkpoints-dir>/<name>/: model.json and model.safetensors (the best checkpoint by val loss, \
      readable by the PyTorch reference), train.log, eval.log, debug.log, and resume/ (the state after the latest \
      evaluation, used by --resume). Presets: \(GPTTrainingConfig.presetNames.joined(separator: ", ")).
      """)

  @Option(help: "Training preset name, or a path to a JSON file with the reference's TrainingConfig fields.")
  var config: String = "shakespeare_64x4"

  @Option(help: "Run name (default: the preset's name).")
  var name: String?

  @Option(help: "Seed of the weight initialisation.")
  var seed: UInt64 = 0

  @OptionGroup var common: CommonOptions

  @Option(help: "GPT architecture preset (\(GPTConfig.presetNames.joined(separator: ", "))).")
  var gptConfig: String?
  @Option(help: "Number of optimisation steps.") var maxSteps: Int?
  @Option(help: "Linear warmup steps.") var warmupSteps: Int?
  @Option(help: "Sequences per micro-batch.") var batchSize: Int?
  @Option(help: "Micro-batches per optimisation step.") var gradientAccumulationSteps: Int?
  @Option(help: "Peak learning rate.") var learningRate: Float?
  @Option(help: "Final learning rate of the cosine decay.") var minLr: Float?
  @Option(help: "Cosine decay after warmup (true/false).") var decayLr: Bool?
  @Option(help: "AdamW weight decay for matrices.") var weightDecay: Float?
  @Option(help: "Global gradient-norm clip (0 disables clipping).") var gradClip: Float?
  @Option(help: "Evaluate every N steps (and at step 0 and the last step); may exceed --max-steps.") var evalInterval: Int?
  @Option(help: "Batches averaged per evaluation.") var evalSteps: Int?
  @Option(help: "Write a train.log line every N steps.") var logInterval: Int?

  @Flag(help: "Continue the run from its resume state (written at every evaluation).")
  var resume = false

  @Option(help: "Stop after this step as if interrupted, writing a resume state; continue later with --resume.")
  var stopAfter: Int?

  func run() throws {
    var c = try loadConfig()
    if let name { c.name = name }
    if let v = common.dataDir { c.dataDir = v }
    if let v = gptConfig { c.gptConfig = v }
    if let v = maxSteps { c.maxSteps = v }
    if let v = warmupSteps { c.warmupSteps = v }
    if let v = batchSize { c.batchSize = v }
    if let v = gradientAccumulationSteps { c.gradientAccumulationSteps = v }
    if let v = learningRate { c.learningRate = v }
    if let v = minLr { c.minLR = v }
    if let v = decayLr { c.decayLR = v }
    if let v = weightDecay { c.weightDecay = v }
    if let v = gradClip { c.gradClip = v == 0 ? nil : v }
    if let v = evalInterval { c.evalInterval = v }
    if let v = evalSteps { c.evalSteps = v }
    if let v = logInterval { c.logInterval = v }
    if let s = stopAfter, s < 1 { throw ToolError("--stop-after must be at least 1, got \(s)") }

    let trainer = try GPTTrainer(config: c, checkpointsDirectory: common.checkpointsURL, seed: seed)
    let start = monotonicSeconds()
    let first = resume ? "resumed" : "started"
    let last = try trainer.train(resume: resume, stopAfter: stopAfter)
    let seconds = monotonicSeconds() - start
    Terminal.line("\(first) run \(c.name): finished step \(last) of \(c.maxSteps) in \(Terminal.duration(seconds)); "
                  + "best val loss \(String(format: "%.4f", trainer.bestValLoss)) → \(trainer.runDirectory.path)")
    if common.json {
      var out: [String: Any] = ["steps": last, "max_steps": c.maxSteps, "seconds": seconds,
                                "parameters": trainer.model.parameterCount]
      if let v = jsonNumber(trainer.bestValLoss) { out["best_val_loss"] = v }
      if let v = jsonNumber(trainer.lastValLoss) { out["val_loss"] = v }
      printJSONObject(out)
    }
  }

  func loadConfig() throws -> GPTTrainingConfig {
    if let preset = GPTTrainingConfig.preset(config) { return preset }
    let url = URL(fileURLWithPath: config)
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw ToolError("unknown training config '\(config)' (presets: \(GPTTrainingConfig.presetNames.joined(separator: ", ")); or give a JSON file path)")
    }
    do {
      return try JSONDecoder().decode(GPTTrainingConfig.self, from: Data(contentsOf: url))
    } catch let e as DecodingError {
      throw ToolError("\(url.path) is not a valid training config: \(describe(e))")
    }
  }
}

TrainGPT.main()
