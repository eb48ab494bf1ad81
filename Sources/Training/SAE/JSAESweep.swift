import Foundation
import SAE
import Tensor

/// The outcome of one run of a JSAE λ sweep: the final metrics of its reloaded best checkpoint.
public struct JSAESweepResult: Codable, Equatable, Sendable {
  /// λ of every pair.
  public var lambda: Double
  /// Run name (`<prefix>-sparse-{λ:.1e}`).
  public var name: String
  public var runDirectory: String
  /// Steps trained.
  public var steps: Int
  /// Clean CE loss over the evaluation batches.
  public var ceLoss: Float
  /// SAE keys in order, and each SAE's L0.
  public var keys: [String]
  public var l0: [String: Float]
  /// Pair (input-side) keys in layer order, each pair's CE-loss increase and Jacobian sparsity J (without λ).
  public var pairs: [String]
  public var ceLossIncrease: [String: Float]
  public var jacobianL1: [String: Float]
  /// CE loss with every SAE patched, minus clean CE.
  public var compoundCELossIncrease: Float

  enum CodingKeys: String, CodingKey {
    case lambda, name, runDirectory = "run_directory", steps, ceLoss = "ce_loss", keys, l0, pairs
    case ceLossIncrease = "ce_loss_increase", jacobianL1 = "jacobian_l1", compoundCELossIncrease = "compound_ce_loss_increase"
  }
}

/// A grid of JSAE runs that differ only in λ (one λ for every pair per run), trained one after another on
/// the same frozen GPT; each run is the concurrent trainer's (`ConcurrentSAETrainer`), named
/// `<prefix>-sparse-{λ:.1e}` under the checkpoints directory.
///
/// Finished runs (trained to `max_steps`, final metrics recorded in `sweep_result.json`) are skipped and
/// their recorded metrics reused; a run stopped part-way is continued with `resume` (and is an error
/// without it); a run whose training completed but whose final evaluation did not is only evaluated.
public final class JSAESweep {
  /// The paper's grid: λ ∈ {0, 1.0e-3, 1.2e-3, 1.5e-3, 1.8e-3, 2.2e-3, 2.7e-3, 3.3e-3, 3.9e-3, 4.7e-3, 5.6e-3,
  /// 6.8e-3, 1.0e-2}.
  public static let paperGrid: [Double] = [0, 1.0e-3, 1.2e-3, 1.5e-3, 1.8e-3, 2.2e-3, 2.7e-3, 3.3e-3, 3.9e-3,
                                           4.7e-3, 5.6e-3, 6.8e-3, 1.0e-2]
  /// The file a finished run's `JSAESweepResult` is kept in, inside its run directory.
  public static let resultFile = "sweep_result.json"

  /// The configuration every run starts from; its name is the prefix of the run names.
  public let base: SAETrainingConfig
  public let lambdas: [Double]
  public let gptDirectory: URL
  public let checkpointsDirectory: URL
  public let seed: UInt64
  /// Echo the runs' log lines and the sweep's progress to standard error.
  public let echo: Bool
  /// The processes every run of the sweep is spread over (`SAETrainer.distribute(over:)`); rank 0 reads
  /// the runs' states and writes every file.
  public var parallel = DataParallel.single
  /// Bytes of the frozen GPT's clean activations kept for reuse (`SharedActivations`): the runs read the same
  /// batches, so each later run, and each later epoch, reuses what the first computed. 0 recomputes every batch.
  public var retainedBytes = 0
  /// The activations the runs share (created by the first run trained here).
  public private(set) var sharedActivations: SharedActivations?

  /// A sweep of `base` (a `jsae` or `jsae_block` model) over `lambdas`; throws a one-line error for another
  /// variant, an empty grid, a value that is not finite and ≥ 0, two values with the same run name, or an
  /// invalid run configuration.
  public init(base: SAETrainingConfig, lambdas: [Double], gptDirectory: URL, checkpointsDirectory: URL, seed: UInt64 = 0,
              echo: Bool = true) throws {
    let model = try base.model()
    guard SparsityArgument.namesRuns(of: model) else {
      throw TrainingError("a λ sweep trains jsae or jsae_block models; \(model.name) is \(model.saeVariant.rawValue)")
    }
    guard !lambdas.isEmpty else { throw TrainingError("the λ sweep grid is empty") }
    if let bad = lambdas.first(where: { !$0.isFinite || $0 < 0 }) {
      throw TrainingError("λ sweep values must be finite and ≥ 0, got \(bad)")
    }
    self.base = base
    self.lambdas = lambdas
    self.gptDirectory = gptDirectory
    self.checkpointsDirectory = checkpointsDirectory
    self.seed = seed
    self.echo = echo
    var names: [String: Double] = [:]
    for lambda in lambdas {
      let c = try config(for: lambda)
      if let other = names[c.name] {
        throw TrainingError("λ sweep values \(other) and \(lambda) both name the run \(c.name)")
      }
      names[c.name] = lambda
      try c.validate()
    }
  }

  /// Parses a grid: `paper` or comma-separated λ values. Throws a one-line error for anything else.
  public static func parseGrid(_ text: String) throws -> [Double] {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.lowercased() == "paper" { return paperGrid }
    return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map { part in
      let s = part.trimmingCharacters(in: .whitespaces)
      guard let v = Double(s), v.isFinite, v >= 0 else {
        throw TrainingError("sweep value '\(s)' is not a number ≥ 0 (give comma-separated λ values or 'paper')")
      }
      return v
    }
  }

  /// The configuration of the run with `lambda` (every pair), named `<prefix>-sparse-{λ:.1e}`.
  public func config(for lambda: Double) throws -> SAETrainingConfig {
    var c = base
    let n = SAETrainingConfig.sparsityCount(for: try base.model())
    let argument = SparsityArgument(values: [Double](repeating: lambda, count: n))
    c.lossCoefficients.sparsity = argument.floats
    c.name = SparsityArgument.defaultRunName(base: base.name, lambdas: argument)
    return c
  }

  /// Where a run stands on disk.
  public enum RunState: Equatable, Sendable, Codable {
    /// No resume state: trained from step 1.
    case new
    /// Stopped after `step` of its steps: continued with `resume`.
    case stopped(step: Int)
    /// All steps trained but no recorded result: only the final evaluation is run.
    case trained
    /// Trained and evaluated: skipped.
    case finished(JSAESweepResult)
  }

  /// The state of the run `config` from its resume state and recorded result.
  public func state(of config: SAETrainingConfig) throws -> RunState {
    let dir = checkpointsDirectory.appendingPathComponent(config.name)
    let store = ResumeStore(runDirectory: dir)
    let recorded = try Self.readResult(in: dir)
    guard store.exists else {
      if let r = recorded, r.steps == config.maxSteps { return .finished(r) }
      return .new
    }
    struct Progress: Decodable { var step: Int }
    let step = try store.load(Progress.self, files: []).0.step
    if step < config.maxSteps { return .stopped(step: step) }
    guard step == config.maxSteps else {
      throw TrainingError("run \(config.name) in \(dir.path) already trained \(step) steps, more than the sweep's \(config.maxSteps)")
    }
    if let r = recorded, r.steps == step { return .finished(r) }
    return .trained
  }

  /// Trains (or continues, or only evaluates) every run not yet finished, in grid order, and returns every
  /// run's result. Without `resume`, a run stopped part-way is an error (reported before anything trains).
  public func run(resume: Bool = false) throws -> [JSAESweepResult] {
    let configs = try lambdas.map { try config(for: $0) }
    let states = try parallel.fromWriter { try configs.map { try state(of: $0) } }
    if !resume {
      for (c, s) in zip(configs, states) {
        if case .stopped(let step) = s {
          throw TrainingError("run \(c.name) of the sweep stopped after step \(step) of \(c.maxSteps); resume the sweep to continue it (or remove \(checkpointsDirectory.appendingPathComponent(c.name).path))")
        }
      }
    }
    var results: [JSAESweepResult] = []
    for (i, (lambda, c)) in zip(lambdas, configs).enumerated() {
      let label = "sweep run \(i + 1)/\(configs.count): \(c.name) (λ \(SparsityArgument.format(lambda)))"
      if case .finished(let r) = states[i] {
        note("\(label): finished earlier, skipped")
        results.append(r)
        continue
      }
      let trainer = try ConcurrentSAETrainer(config: c, loadFrom: gptDirectory, checkpointsDirectory: checkpointsDirectory,
                                             seed: seed, echo: echo)
      try trainer.distribute(over: parallel)
      if retainedBytes > 0 {
        // Every run has the same GPT checkpoint, keys and batches: one store serves them all.
        let shared = try sharedActivations ?? {
          let s = SharedActivations(gpt: trainer.model.gpt, keys: trainer.activationKeys,
                                    capacity: c.gradientAccumulationSteps, retainedBytes: retainedBytes)
          // This run and the later ones read from the start of the data, one after another.
          let reads = try configs[i...].map { $0.maxSteps * (try parallel.localAccumulation($0.gradientAccumulationSteps)) }
          s.retainedBatchLimit = SharedActivations.batchLimit(epoch: try trainer.trainLoader.batchesPerEpoch(), reads: reads,
                                                              oneAfterAnother: true, evalSteps: c.evalSteps)
          return s
        }()
        sharedActivations = shared
        trainer.sharedActivations = shared
      }
      switch states[i] {
      case .trained:
        note("\(label): trained earlier, running the final evaluation")
        if parallel.isWriter { try trainer.finish() }
      case .stopped(let step):
        note("\(label): continuing after step \(step)")
        try trainer.train(resume: true)
      default:
        note("\(label): training \(c.maxSteps) steps")
        try trainer.train()
      }
      let r = try parallel.fromWriter { () throws -> JSAESweepResult in
        let r = try Self.result(of: trainer, lambda: lambda)
        try Self.writeResult(r, in: trainer.runDirectory)
        return r
      }
      results.append(r)
    }
    return results
  }

  func note(_ text: String) { if echo && parallel.isWriter { Terminal.line(text) } }

  /// The result of a trainer that has completed (reloaded and evaluated its best checkpoint).
  static func result(of trainer: ConcurrentSAETrainer, lambda: Double) throws -> JSAESweepResult {
    guard let m = trainer.finalMetrics, let model = trainer.finalModel else {
      throw TrainingError("run \(trainer.config.name) has no final metrics")
    }
    func keyed(_ keys: [SAEKey], _ values: [SAEKey: Float]) -> [String: Float] {
      Dictionary(uniqueKeysWithValues: keys.compactMap { k in values[k].map { (k.description, $0) } })
    }
    let pairs = model.ceIncreaseKeys
    return JSAESweepResult(lambda: lambda, name: trainer.config.name, runDirectory: trainer.runDirectory.path,
                           steps: trainer.config.maxSteps, ceLoss: m.ceLoss, keys: model.keys.map(\.description),
                           l0: keyed(model.keys, m.l0), pairs: pairs.map(\.description),
                           ceLossIncrease: keyed(pairs, m.ceIncrease), jacobianL1: keyed(pairs, m.jacobianL1),
                           compoundCELossIncrease: m.compoundCEIncrease)
  }

  static func encoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
  }

  static func writeResult(_ r: JSAESweepResult, in directory: URL) throws {
    try AtomicFile.write(try encoder().encode(r), to: directory.appendingPathComponent(resultFile))
  }

  static func readResult(in directory: URL) throws -> JSAESweepResult? {
    let url = directory.appendingPathComponent(resultFile)
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    let d = JSONDecoder()
    d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do {
      return try d.decode(JSAESweepResult.self, from: Data(contentsOf: url))
    } catch {
      throw TrainingError("corrupt sweep result \(url.path): \(error)")
    }
  }

  /// The results as a table, one row per λ: λ, L0 per pair (input/output SAE), CE-loss increase per pair and
  /// compound, J per pair.
  public static func table(_ results: [JSAESweepResult]) -> String {
    guard let first = results.first else { return "" }
    let pairs = first.pairs
    func layer(_ key: String) -> String { String(key.prefix { $0 != "_" }) }
    func cell(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : String(repeating: " ", count: w - s.count) + s + " " }
    func num(_ v: Float?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "-" }
    func left(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) + " " }
    var header = left("λ", 8) + cell("steps", 6)
    for p in pairs { header += cell("L0[\(layer(p))]", 11) }
    for p in pairs { header += cell("ΔCE[\(layer(p))]", 8) }
    header += cell("ΔCE(all)", 8)
    for p in pairs { header += cell("J[\(layer(p))]", 10) }
    var lines = [header]
    for r in results {
      var line = left(SparsityArgument.format(r.lambda), 8) + cell("\(r.steps)", 6)
      for p in pairs {
        let out = r.keys.first { $0 != p && layer($0) == layer(p) }
        line += cell(num(r.l0[p], "%.2f") + "/" + num(out.flatMap { r.l0[$0] }, "%.2f"), 11)
      }
      for p in pairs { line += cell(num(r.ceLossIncrease[p], "%.4f"), 8) }
      line += cell(String(format: "%.4f", r.compoundCELossIncrease), 8)
      for p in pairs { line += cell(num(r.jacobianL1[p], "%.1f"), 10) }
      lines.append(line)
    }
    return lines.map { String($0.dropLast()) }.joined(separator: "\n")
  }
}
