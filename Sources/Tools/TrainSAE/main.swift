import ArgumentParser
import CommandSupport
import Foundation
import GPT
import SAE
import Training

struct TrainSAE: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train-sae",
    abstract: "Train sparse autoencoders with the reference's concurrent, end-to-end or regularization trainer.",
    discussion: """
      Every SAE of the preset is trained at once, with the trainer the preset names (--trainer overrides it). \
      concurrent: frozen GPT; the loss is a vector with one total per SAE (one per pair for jsae, jsae_block \
      and staircase_block). e2e (end_to_end): frozen GPT; per SAE, the KL divergence of the logits with that \
      SAE patched in from the clean logits, plus its sparsity loss, plus --downstream × the MSE of later \
      blocks' outputs. regularization: the GPT is trained too, on CE plus the mean over SAEs of \
      λ·reconstruction/‖x‖ + sparsity + λ·aux/‖x‖ (λ = --regularization); one loss, the whole model is saved \
      when it improves; without --load-from it starts from a fresh GPT. The run writes <checkpoints-dir>/<name>/: the GPT (model.json, \
      model.safetensors), sae.json and sae.*.safetensors (each SAE or pair saved whenever its val loss is at its \
      best; weight-sharing staircase groups when the sum of their members' val losses is at its best), \
      checkpoint-steps.json (the step each SAE's saved checkpoint comes from), train.log, eval.log, debug.log and \
      resume/ (the state after the latest evaluation, used by --resume). SIGINT or SIGTERM stops every run after \
      its current step with its resume state written (exit status 130 or 143); a second signal stops at once. \
      Each run directory is locked (.lock holding the pid) while its run lasts. After the last step the best checkpoint \
      is reloaded and its L0s, CE-loss increases and compound CE-loss increase are reported (and, for jsae and \
      jsae_block, each pair's Jacobian sparsity J).

      jsae / jsae_block runs add λ·J per pair (λ from --sparsity) and are named <config name>-sparse-{λ:.1e} \
      (per-pair λ: the values joined by _) unless --name is given. --sweep trains one such run per λ of a grid \
      (e.g. --sweep 0,1.0e-3,1.8e-3,3.3e-3 or --sweep paper), one after another, and prints a table of λ, L0, \
      CE-loss increase and J per layer; finished runs are skipped, --resume continues stopped ones.

      Presets: \(SAETrainingConfig.presetNames.joined(separator: ", ")).
      """)

  @Option(help: ArgumentHelp("SAE training preset name, or a path to a JSON file with the reference's SAETrainingConfig fields (sae_config: a model preset name or an inline model). Repeat it to train several concurrent-trainer runs on the same GPT and batches in one process, sharing one GPT forward per batch; each run writes its own directory, exactly as it would alone.", valueName: "name|file"))
  var config: [String] = []

  @Option(help: ArgumentHelp("GPT checkpoint directory (model.json + model.safetensors); a name not found as a path is looked up under --checkpoints-dir. Required except for the regularization trainer (which otherwise starts from a fresh GPT).", valueName: "dir"))
  var loadFrom: String?

  @Option(help: ArgumentHelp("Trainer, overriding the preset's: concurrent, e2e (end_to_end) or regularization.", valueName: "kind"))
  var trainer: SAETrainerKind?

  @Option(help: "Run name (default: the preset's name; for jsae/jsae_block <name>-sparse-{λ:.1e}; with --sweep the prefix of the run names). With several --config, give one --name per --config, in the same order, or none.")
  var name: [String] = []

  @Option(help: "Seed of the SAE weight initialisation.")
  var seed: UInt64 = 0

  @Option(help: "TopK k for every SAE (TopK variants only).")
  var k: Int?

  @OptionGroup var common: CommonOptions

  @OptionGroup var loop: LoopOptions
  @Option(help: ArgumentHelp("Sparsity coefficient λ: one value for all, or comma-separated values, one per SAE (one per pair for jsae/jsae_block, where λ weights the Jacobian penalty). With several --config, one --sparsity for all of them or one per --config, in the same order.", valueName: "λ[,λ…]"))
  var sparsity: [String] = []
  @Option(help: "Weight of the SAE terms (regularization trainer).") var regularization: Float?
  @Option(help: "Weight of the downstream reconstruction term (end-to-end trainer).") var downstream: Float?
  @Option(help: "JumpReLU straight-through kernel width ε.") var bandwidth: Float?

  @Option(help: ArgumentHelp("Train one jsae/jsae_block run per λ (the same λ for every pair), one after another, and print a table: comma-separated λ values, or 'paper' for the paper's 13-value grid.", valueName: "λ,λ…|paper"))
  var sweep: String?

  @Flag(help: "Continue the run from its resume state (written at every evaluation); with --sweep, continue the grid's stopped runs.")
  var resume = false

  @Option(help: "Stop after this step as if interrupted, writing a resume state; continue later with --resume.")
  var stopAfter: Int?

  @Option(help: ArgumentHelp("Memory for the frozen GPT's activations of batches already seen, in MiB: the data loader reads the same windows every epoch, so kept batches are reused instead of running the GPT again (bit-identical; concurrent trainer, also across the runs of --sweep). 0 runs the GPT on every batch. Default: a quarter of the machine's memory and at most half of what is available at the start, at most 8192, shared among the processes of an MPI run.", valueName: "MiB"))
  var activationCache: Int?

  /// The bytes `--activation-cache` allows each of `processes`.
  func activationCacheBytes(processes: Int) throws -> Int {
    if let mib = activationCache {
      guard mib >= 0 else { throw ToolError("--activation-cache must be ≥ 0 MiB, got \(mib)") }
      return mib << 20
    }
    var bytes = min(Int(ProcessInfo.processInfo.physicalMemory / 4), 8192 << 20)
    if let available = MachineInfo.availableMemory { bytes = min(bytes, available / 2) }
    return bytes / max(1, processes)
  }

  /// The closing line about reused GPT activations.
  func reportActivations(_ shared: SharedActivations?) {
    guard let shared else { return }
    Terminal.line("GPT activations: \(shared.misses) batches computed, \(shared.hits) reused"
                  + (shared.retainedBytes > 0 ? String(format: " (%d batches, %.0f MiB, kept for later epochs)", shared.heldBatches, Double(shared.heldBytes) / 1_048_576) : ""))
  }

  func run() throws {
    MachineInfo.noteOpenBLASKernels()
    try withStopOnSignal(stopping: "stopping after the current step of every run, with the resume states written") {
      try withProcesses(tool: "train-sae") { try train($0) }
    }
  }

  func train(_ parallel: DataParallel) throws {
    guard !config.isEmpty else { throw ToolError("--config is required (an SAE training preset name or a JSON file)") }
    if !name.isEmpty && name.count != config.count {
      throw ToolError("give one --name per --config (\(config.count) configs, \(name.count) names), or no --name")
    }
    if config.count > 1 && sweep != nil { throw ToolError("--sweep trains one config's λ grid; give a single --config") }
    if sparsity.count > 1 && sparsity.count != config.count {
      throw ToolError("give one --sparsity for all configs or one per --config (\(config.count) configs, \(sparsity.count) values)")
    }
    if let s = stopAfter, s < 1 { throw ToolError("--stop-after must be at least 1, got \(s)") }
    let cacheBytes = try activationCacheBytes(processes: parallel.worldSize)
    let milestones = try loop.milestoneSteps()
    if let sweep {
      if !milestones.isEmpty { throw ToolError("--milestones does not apply to --sweep") }
      return try runSweep(sweep, config: try baseConfig(config[0], name: name.first), parallel: parallel, cacheBytes: cacheBytes)
    }
    let configs = try config.indices.map {
      try makeConfig(config[$0], name: name.isEmpty ? nil : name[$0], sparsity: sparsity.count > 1 ? sparsity[$0] : sparsity.first)
    }
    let start = monotonicSeconds()
    let verb = resume ? "resumed" : "started"
    if configs.count == 1 {
      let c = configs[0]
      let gptDirectory: URL? = c.trainer == .regularization && loadFrom == nil ? nil : try locateGPT()
      let trainer = try SAETrainer.make(config: c, loadFrom: gptDirectory, checkpointsDirectory: common.checkpointsURL, seed: seed)
      try trainer.distribute(over: parallel)
      let concurrent = trainer as? ConcurrentSAETrainer
      if cacheBytes > 0 { try concurrent?.retainActivations(bytes: cacheBytes) }
      let last = try trainer.train(resume: resume, stopAfter: stopAfter, milestones: milestones)
      let seconds = monotonicSeconds() - start
      guard parallel.isWriter else { return }
      report(trainer, verb: verb, last: last, seconds: seconds)
      reportActivations(concurrent?.sharedActivations)
      if common.json { try printJSONObject(summary(trainer, steps: last, seconds: seconds)) }
      return
    }
    if let other = configs.first(where: { $0.trainer != .concurrent }) {
      throw ToolError("run \(other.name) uses the \(other.trainer.rawValue) trainer; only concurrent-trainer runs train together (run it on its own)")
    }
    let gpt = try GPTCheckpoint.load(from: try locateGPT())
    let trainers = try configs.map {
      try ConcurrentSAETrainer(config: $0, gpt: gpt, checkpointsDirectory: common.checkpointsURL, seed: seed)
    }
    let group = try SAETrainingGroup(trainers: trainers, retainedBytes: cacheBytes)
    try group.distribute(over: parallel)
    let lasts = try group.train(resume: resume, stopAfter: stopAfter, milestones: milestones)
    let seconds = monotonicSeconds() - start
    guard parallel.isWriter else { return }
    for (trainer, last) in zip(trainers, lasts) { report(trainer, verb: verb, last: last, seconds: seconds) }
    reportActivations(group.shared)
    if common.json {
      try printJSONObject(["runs": zip(trainers, lasts).map { summary($0, steps: $1, seconds: seconds) }, "seconds": seconds])
    }
  }

  /// The training config of one `--config` value with every command-line override applied.
  func makeConfig(_ nameOrPath: String, name: String?, sparsity: String?) throws -> SAETrainingConfig {
    var c = try baseConfig(nameOrPath, name: name)
    let model = try c.model()
    var lambdas: SparsityArgument?
    if let sparsity {
      let parsed = try flag("--sparsity") { try SparsityArgument(parsing: sparsity, for: model) }
      c.lossCoefficients.sparsity = parsed.floats
      lambdas = parsed
    }
    if name == nil, SparsityArgument.namesRuns(of: model) {
      let effective = lambdas ?? SparsityArgument(values: (c.lossCoefficients.sparsity ?? []).map { Double($0) })
      if !effective.values.isEmpty { c.name = SparsityArgument.defaultRunName(base: c.name, lambdas: effective) }
    }
    try c.validate()
    return c
  }

  /// One `--config` value with the overrides that apply before λ: name, loop options, coefficients, trainer, k.
  func baseConfig(_ nameOrPath: String, name: String?) throws -> SAETrainingConfig {
    var c = try loadTrainingConfig(nameOrPath, kind: "SAE training config", presetNames: SAETrainingConfig.presetNames,
                                   preset: SAETrainingConfig.preset)
    if let name { c.name = name }
    loop.apply(to: &c, dataDir: common.dataDir)
    if let v = regularization { c.lossCoefficients.regularization = v }
    if let v = downstream { c.lossCoefficients.downstream = v }
    if let v = bandwidth { c.lossCoefficients.bandwidth = v }
    if let v = self.trainer { c.trainer = v }
    if let k {
      var model = try c.model()
      guard model.saeVariant.isTopK else {
        throw ToolError("--k applies to TopK variants only; \(model.name) is \(model.saeVariant.rawValue)")
      }
      model.topK = [Int](repeating: k, count: model.saeKeys.count)
      c.saeModel = model
    }
    return c
  }

  /// The run's closing line on stderr.
  func report(_ trainer: SAETrainer, verb: String, last: Int, seconds: Double) {
    let best = trainer.bestLosses.map { String(format: "%.4f", $0) }.joined(separator: " ")
    Terminal.line("\(verb) run \(trainer.config.name): finished step \(last) of \(trainer.config.maxSteps) in \(Terminal.duration(seconds)); "
                  + "best val losses \(best) → \(trainer.runDirectory.path)")
  }

  func summary(_ trainer: SAETrainer, steps: Int, seconds: Double) -> [String: Any] {
    func keyed(_ keys: [SAEKey], _ values: [SAEKey: Float]) -> [String: Double] {
      var out: [String: Double] = [:]
      for key in keys { if let v = values[key].flatMap(jsonNumber) { out[key.description] = v } }
      return out
    }
    var out: [String: Any] = ["steps": steps, "max_steps": trainer.config.maxSteps, "seconds": seconds,
                              "run_directory": trainer.runDirectory.path, "name": trainer.config.name]
    var best: [String: Double] = [:]
    for (key, v) in zip(trainer.layout.entryKeys, trainer.bestLosses) { if let v = jsonNumber(v) { best[key.description] = v } }
    if trainer.trainsGPT {
      if let v = trainer.bestLosses.first.flatMap(jsonNumber) { out["best_val_loss"] = v }
    } else {
      out["best_val_losses"] = best
    }
    out["trainer"] = trainer.config.trainer.rawValue
    out["checkpoint_steps"] = trainer.checkpointSteps.steps
    if let m = trainer.finalMetrics, let model = trainer.finalModel {
      out["reconstruction_loss"] = keyed(model.keys, m.reconstruct)
    }
    if let m = trainer.finalMetrics, let model = trainer.finalModel {
      out["l0"] = keyed(model.keys, m.l0)
      out["ce_loss_increase"] = keyed(model.ceIncreaseKeys, m.ceIncrease)
      if let v = jsonNumber(m.compoundCEIncrease) { out["compound_ce_loss_increase"] = v }
      if let v = jsonNumber(m.ceLoss) { out["ce_loss"] = v }
      if !m.jacobianL1.isEmpty { out["jacobian_l1"] = keyed(model.ceIncreaseKeys, m.jacobianL1) }
    }
    return out
  }

  /// `--sweep`: the λ grid's runs of `config`, then the table (and JSON).
  func runSweep(_ grid: String, config: SAETrainingConfig, parallel: DataParallel, cacheBytes: Int) throws {
    if !sparsity.isEmpty { throw ToolError("--sweep sets λ per run; drop --sparsity") }
    if stopAfter != nil { throw ToolError("--stop-after does not apply to --sweep (interrupt the sweep and continue it with --resume)") }
    let sweep = try JSAESweep(base: config, lambdas: try flag("--sweep") { try JSAESweep.parseGrid(grid) }, gptDirectory: try locateGPT(),
                              checkpointsDirectory: common.checkpointsURL, seed: seed)
    sweep.parallel = parallel
    sweep.retainedBytes = cacheBytes
    let start = monotonicSeconds()
    let results = try sweep.run(resume: resume)
    guard parallel.isWriter else { return }
    reportActivations(sweep.sharedActivations)
    Terminal.line("sweep of \(results.count) runs done in \(Terminal.duration(monotonicSeconds() - start)) → \(common.checkpointsURL.path)")
    let table = JSAESweep.table(results)
    if common.json {
      Terminal.line(table)
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
      struct Output: Encodable { var runs: [JSAESweepResult] }
      print(String(decoding: try encoder.encode(Output(runs: results)), as: UTF8.self))
    } else {
      print(table)
    }
  }

  /// The GPT checkpoint directory: `--load-from` as a path, else `<checkpoints-dir>/<load-from>`.
  func locateGPT() throws -> URL {
    guard let loadFrom else { throw ToolError("--load-from is required (a GPT checkpoint directory) except for the regularization trainer") }
    let fm = FileManager.default
    let direct = URL(fileURLWithPath: loadFrom)
    if fm.fileExists(atPath: direct.path) { return direct }
    let named = common.checkpointsURL.appendingPathComponent(loadFrom)
    if fm.fileExists(atPath: named.path) { return named }
    throw ToolError("GPT checkpoint '\(loadFrom)' not found (neither \(direct.path) nor \(named.path) exists)")
  }

}

extension SAETrainerKind: ExpressibleByArgument {
  /// The reference's names, plus `e2e` / `end-to-end` for `end_to_end`.
  public init?(argument: String) {
    switch argument.lowercased() {
    case "e2e", "end-to-end", "endtoend": self = .endToEnd
    default: self.init(rawValue: argument.lowercased())
    }
  }

  public static var allValueStrings: [String] { ["concurrent", "e2e", "regularization"] }
}

TrainSAE.main()
