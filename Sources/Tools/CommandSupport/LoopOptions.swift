import ArgumentParser
import Foundation
import GPT
import Training

/// Command-line overrides of the optimisation-loop fields every training tool shares.
public struct LoopOptions: ParsableArguments {
  @Option(help: "Number of optimisation steps.") public var maxSteps: Int?
  @Option(help: "Linear warmup steps.") public var warmupSteps: Int?
  @Option(help: "Sequences per micro-batch.") public var batchSize: Int?
  @Option(help: "Micro-batches per optimisation step.") public var gradientAccumulationSteps: Int?
  @Option(help: "Peak learning rate.") public var learningRate: Float?
  @Option(help: "Final learning rate of the cosine decay.") public var minLr: Float?
  @Option(help: "Cosine decay after warmup (true/false).") public var decayLr: Bool?
  @Option(help: "Evaluate every N steps (and at step 0 and the last step); may exceed --max-steps.") public var evalInterval: Int?
  @Option(help: "Val batches averaged per evaluation (and for the final report).") public var evalSteps: Int?
  @Option(help: "Write a train.log line every N steps.") public var logInterval: Int?
  @Option(help: ArgumentHelp("Keep a copy of the best checkpoint after each of these evaluation steps, in <run>/milestones/step-NNNNNN/ (comma-separated; each a multiple of the eval interval, or the last step).", valueName: "step,step…"))
  public var milestones: String?

  public init() {}

  /// The `--milestones` steps (empty when not given); a malformed list is a one-line error.
  public func milestoneSteps() throws -> Set<Int> {
    guard let milestones else { return [] }
    var steps = Set<Int>()
    for part in milestones.split(separator: ",", omittingEmptySubsequences: false) {
      let text = part.trimmingCharacters(in: .whitespaces)
      guard let step = Int(text), step > 0 else {
        throw ToolError("--milestones: '\(text)' is not a positive step number (expected e.g. 750,1500,3000)")
      }
      steps.insert(step)
    }
    return steps
  }

  /// Sets the fields given on the command line (and `dataDir` when given) in `config`.
  public func apply<Config: TrainingLoopSettings>(to config: inout Config, dataDir: String?) {
    if let v = dataDir { config.dataDir = v }
    if let v = maxSteps { config.maxSteps = v }
    if let v = warmupSteps { config.warmupSteps = v }
    if let v = batchSize { config.batchSize = v }
    if let v = gradientAccumulationSteps { config.gradientAccumulationSteps = v }
    if let v = learningRate { config.learningRate = v }
    if let v = minLr { config.minLR = v }
    if let v = decayLr { config.decayLR = v }
    if let v = evalInterval { config.evalInterval = v }
    if let v = evalSteps { config.evalSteps = v }
    if let v = logInterval { config.logInterval = v }
  }
}

/// The training config named by `nameOrPath`: a compiled-in preset (`preset(name)`), else a JSON file with the
/// reference's fields; `kind` names the config in errors ("training config", "SAE training config").
public func loadTrainingConfig<Config: Decodable>(_ nameOrPath: String, kind: String, presetNames: [String],
                                                  preset: (String) -> Config?) throws -> Config {
  if let p = preset(nameOrPath) { return p }
  let url = URL(fileURLWithPath: nameOrPath)
  guard FileManager.default.fileExists(atPath: url.path) else {
    throw ToolError("unknown \(kind) '\(nameOrPath)' (presets: \(presetNames.joined(separator: ", ")); or give a JSON file path)")
  }
  do {
    return try JSONDecoder().decode(Config.self, from: Data(contentsOf: url))
  } catch let e as DecodingError {
    throw ToolError("\(url.path) is not a valid \(kind): \(describe(e))")
  } catch {
    throw ToolError("cannot read \(url.path): \(error.localizedDescription)")
  }
}
