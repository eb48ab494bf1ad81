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
      Under `mpirun -np N` (tools built with `--traits MPI`) the run is data-parallel: each rank reads its own \
      slice of every batch, gradients are averaged, gradient accumulation steps are divided among the ranks, \
      and rank 0 writes every file. The run writes <checkpoints-dir>/<name>/: model.json and model.safetensors (the best checkpoint by val loss, \
      readable by the PyTorch reference), train.log, eval.log, debug.log, and resume/ (the state after the latest \
      evaluation, used by --resume). SIGINT or SIGTERM stops the run after the current step with its resume \
      state written (exit status 130 or 143); a second signal stops it at once. The run directory is locked \
      (.lock holding the pid) while the run lasts. Presets: \(GPTTrainingConfig.presetNames.joined(separator: ", ")).
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
  @OptionGroup var loop: LoopOptions
  @Option(help: "AdamW weight decay for matrices.") var weightDecay: Float?
  @Option(help: "Global gradient-norm clip (0 disables clipping).") var gradClip: Float?

  @Flag(help: "Continue the run from its resume state (written at every evaluation).")
  var resume = false

  @Option(help: "Stop after this step as if interrupted, writing a resume state; continue later with --resume.")
  var stopAfter: Int?

  func run() throws {
    MachineInfo.noteOpenBLASKernels()
    try withStopOnSignal(stopping: "stopping after the current step, with the resume state written") {
      try withProcesses(tool: "train-gpt") { try train($0) }
    }
  }

  func train(_ parallel: DataParallel) throws {
    var c = try loadConfig()
    if let name { c.name = name }
    loop.apply(to: &c, dataDir: common.dataDir)
    if let v = gptConfig { c.gptConfig = v }
    if let v = weightDecay { c.weightDecay = v }
    if let v = gradClip { c.gradClip = v == 0 ? nil : v }
    if let s = stopAfter, s < 1 { throw ToolError("--stop-after must be at least 1, got \(s)") }

    let trainer = try GPTTrainer(config: c, checkpointsDirectory: common.checkpointsURL, seed: seed)
    try trainer.distribute(over: parallel)
    let start = monotonicSeconds()
    let first = resume ? "resumed" : "started"
    let last = try trainer.train(resume: resume, stopAfter: stopAfter, milestones: try loop.milestoneSteps())
    let seconds = monotonicSeconds() - start
    guard parallel.isWriter else { return }
    Terminal.line("\(first) run \(c.name): finished step \(last) of \(c.maxSteps) in \(Terminal.duration(seconds)); "
                  + "best val loss \(String(format: "%.4f", trainer.bestValLoss))"
                  + (trainer.bestStep.map { " (checkpoint of step \($0))" } ?? "") + " → \(trainer.runDirectory.path)")
    if common.json {
      var out: [String: Any] = ["steps": last, "max_steps": c.maxSteps, "seconds": seconds,
                                "parameters": trainer.model.parameterCount]
      if let v = jsonNumber(trainer.bestValLoss) { out["best_val_loss"] = v }
      if let step = trainer.bestStep { out["checkpoint_step"] = step }
      if let v = jsonNumber(trainer.lastValLoss) { out["val_loss"] = v }
      try printJSONObject(out)
    }
  }

  func loadConfig() throws -> GPTTrainingConfig {
    try loadTrainingConfig(config, kind: "training config", presetNames: GPTTrainingConfig.presetNames, preset: GPTTrainingConfig.preset)
  }
}

TrainGPT.main()
