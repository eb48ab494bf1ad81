import ArgumentParser
import CommandSupport
import Experiments
import Foundation
import SAE
import Tensor
import Training

struct ScalarReport: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "scalar-report",
    abstract: "Assemble a SCALAR replication's results: headline table beside the paper, improvement by training stage, metrics, plots, manifests and the final checkpoints.",
    discussion: """
      Reads what the replication scripts wrote (scripts/common.sh: checkpoints, attribution files and ablation \
      results, each for the final checkpoints and for every milestone step-NNNNNN/) and writes into --out: \
      summary.md and summary.json (per placement the paper's headline beside ours with a verdict; per stage and \
      layer the AUCs and relative improvements with and without the last edge count; per run and stage each \
      SAE's L0, CE-loss increase, dead-feature fraction and the step of its reloaded checkpoint; the attribution \
      concentration), plots/ (the final KL curves copied from --plots and one improvement-by-steps plot per \
      placement), runs/<run>.json (the exact commands and times recorded in --timings, the commit and the \
      corpus md5) and, with --ship-checkpoints, checkpoints/<run>/ (the final checkpoint files of the GPT and \
      every run). Every file is written atomically.
      """)

  @Option(help: ArgumentHelp("A compared placement: PLACEMENT=LABEL:RUN[@SERIES],LABEL:RUN[@SERIES]… (the first is the baseline; PLACEMENT is transformer_block, ff_block or ff_layer; SERIES is the ablation result directory when it differs from the run name). Repeatable.", valueName: "spec"))
  var placement: [String] = []

  @Option(help: ArgumentHelp("Checkpoints directory holding the runs (and the GPT).", valueName: "dir"))
  var checkpoints: String = "checkpoints/replication"

  @Option(help: ArgumentHelp("Attribution directory (final files; milestones under step-NNNNNN/).", valueName: "dir"))
  var attributions: String = "attributions/data/replication"

  @Option(help: ArgumentHelp("Ablation results directory (final series; milestones under step-NNNNNN/).", valueName: "dir"))
  var results: String = "ablation/results/replication"

  @Option(help: ArgumentHelp("Plot directory whose top-level SVGs (the final KL curves) are copied.", valueName: "dir"))
  var plots: String = "ablation/plots/replication"

  @Option(help: ArgumentHelp("Stage timings written by the scripts (scalar-timings.log); default <checkpoints>/scalar-timings.log.", valueName: "file"))
  var timings: String?

  @Option(help: ArgumentHelp("GPT run directory name under --checkpoints, shipped with --ship-checkpoints.", valueName: "name"))
  var gpt: String = "shakespeare_64x4"

  @Option(help: "Val batches for each checkpoint's metrics.")
  var evalBatches: Int = 10

  @Option(help: "Sequences per val batch for the metrics.")
  var evalBatchSize: Int = 32

  @Option(help: "Bootstrap resamples per KL point (as plot).")
  var resamples: Int = 1000

  @Option(help: ArgumentHelp("Output directory.", valueName: "dir"))
  var out: String = "results/scalar"

  @Option(help: "Commit the results were produced at (recorded in the manifests).")
  var commit: String = "unknown"

  @Option(help: ArgumentHelp("Corpus description for the summary, e.g. 'tinyshakespeare input.txt md5 6fb458f1…'.", valueName: "text"))
  var corpus: String = "unknown"

  @Flag(help: "Copy the final checkpoint files of the GPT and every run into <out>/checkpoints/.")
  var shipCheckpoints = false

  @OptionGroup var common: CommonOptions

  func run() throws {
    guard !placement.isEmpty else { throw ToolError("give at least one --placement PLACEMENT=LABEL:RUN,LABEL:RUN") }
    guard evalBatches > 0, evalBatchSize > 0, resamples > 0 else {
      throw ToolError("--eval-batches, --eval-batch-size and --resamples must be positive")
    }
    let spec = ReplicationSpec(placements: try placement.map { try ReplicationSpec.parsePlacement($0) })
    let checkpointsURL = URL(fileURLWithPath: checkpoints)
    let locations = ReplicationReport.Locations(
      checkpoints: checkpointsURL, attributions: URL(fileURLWithPath: attributions), results: URL(fileURLWithPath: results),
      dataDirectory: URL(fileURLWithPath: common.dataDir ?? "data/tinyshakespeare"))
    let start = monotonicSeconds()
    let report = try ReplicationReport(spec: spec, locations: locations, evalBatches: evalBatches, evalBatchSize: evalBatchSize,
                                       resamples: resamples) { Terminal.progress($0) }
    Terminal.clearProgress()
    let outDir = URL(fileURLWithPath: out)
    let lock = try DirectoryLock(directory: outDir, subject: "output directory \(outDir.path)")
    defer { lock.release() }
    let timingLines = try readTimings()

    // Runs' lengths, wall and CPU times, manifests.
    var runs: [String] = [gpt]
    for p in spec.placements { for s in p.series where !runs.contains(s.run) { runs.append(s.run) } }
    var budgets: [String: Any] = [:]
    for run in runs {
      let lines = timingLines.filter { $0.label.split(separator: " ").contains { $0 == Substring(run) } }
      let maxSteps = Self.maxSteps(checkpointsURL.appendingPathComponent(run))
      let manifest: [String: Any] = [
        "run": run, "commit": commit, "corpus": corpus, "max_steps": maxSteps.map { $0 as Any } ?? NSNull(),
        "cpu_model": MachineInfo.cpuModel, "cores": MachineInfo.cores,
        "stages": lines.map { ["finished": $0.time, "stage": $0.label, "wall_seconds": $0.wall, "cpu_seconds": $0.cpu, "command": $0.command] },
      ]
      try Self.writeJSON(manifest, to: outDir.appendingPathComponent("runs").appendingPathComponent("\(run).json"))
      budgets[run] = ["max_steps": maxSteps.map { $0 as Any } ?? NSNull(), "wall_seconds": lines.reduce(0) { $0 + $1.wall },
                      "cpu_seconds": lines.reduce(0) { $0 + $1.cpu },
                      "step_seconds_from_log": TrainingStepTime.fromLog(runDirectory: checkpointsURL.appendingPathComponent(run)).map { $0 as Any } ?? NSNull()]
    }

    // Plots: the final KL curves, and improvement by training steps.
    let plotDir = outDir.appendingPathComponent("plots")
    let plotNames = ((try? FileManager.default.contentsOfDirectory(atPath: plots)) ?? []).filter { $0.hasSuffix(".svg") }.sorted()
    for name in plotNames {
      try AtomicFile.write(try Data(contentsOf: URL(fileURLWithPath: plots).appendingPathComponent(name)), to: plotDir.appendingPathComponent(name))
    }
    var finalSteps: [String: Double] = [:]
    for p in spec.placements {
      let longest = p.series.compactMap { Self.maxSteps(checkpointsURL.appendingPathComponent($0.run)) }.max()
      if let longest { finalSteps[p.placement.rawValue] = Double(longest) }
    }
    for (name, plot) in report.improvementPlots(stepOfFinal: finalSteps) {
      try AtomicFile.write(Data(plot.render().utf8), to: plotDir.appendingPathComponent("improvement_by_steps_\(name).svg"))
    }

    // Summary files.
    var preamble = "Machine: \(MachineInfo.cpuModel), \(MachineInfo.cores) cores. Corpus: \(corpus). Commit: \(commit). "
      + "Generated \(ISO8601DateFormatter().string(from: Date())).\n\nBudgets (steps; time of the training steps from the run's "
      + "train.log, i.e. the logged step times × the steps between log lines, over every machine and restart the run went "
      + "through; then the wall-clock and CPU time of the stages recorded in this machine's timing log):\n"
    for run in runs {
      guard let b = budgets[run] as? [String: Any] else { continue }
      let steps = (b["max_steps"] as? Int).map(String.init) ?? "?"
      let fromLog = (b["step_seconds_from_log"] as? Double).map { String(format: "≈ %.1f h of training steps", $0 / 3600) }
        ?? "no train.log"
      preamble += String(format: "\n- %@: %@ steps; %@; recorded stages %.1f h wall, %.1f h CPU", run, steps, fromLog,
                         (b["wall_seconds"] as? Double ?? 0) / 3600, (b["cpu_seconds"] as? Double ?? 0) / 3600)
    }
    try AtomicFile.write(Data(report.markdown(preamble: preamble).utf8), to: outDir.appendingPathComponent("summary.md"))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let reportObject = try JSONSerialization.jsonObject(with: try encoder.encode(report))
    let headlines = try JSONSerialization.jsonObject(with: try encoder.encode(report.headlines))
    let summary: [String: Any] = ["report": reportObject, "headlines": headlines, "budgets": budgets, "commit": commit,
                                  "corpus": corpus, "cpu_model": MachineInfo.cpuModel, "cores": MachineInfo.cores,
                                  "evaluation": ["batches": evalBatches, "batch_size": evalBatchSize]]
    try Self.writeJSON(summary, to: outDir.appendingPathComponent("summary.json"))

    if shipCheckpoints {
      for run in runs {
        try CheckpointFiles.copy(from: checkpointsURL.appendingPathComponent(run),
                                 to: outDir.appendingPathComponent("checkpoints").appendingPathComponent(run))
      }
    }
    Terminal.line("scalar-report: \(report.stages.count) stages, \(report.headlines.count) headlines → \(outDir.path) in \(Terminal.duration(monotonicSeconds() - start))")
    if common.json { try printJSONObject(["headlines": headlines, "out": outDir.path]) } else {
      for h in report.headlines {
        print(String(format: "%@ %@: paper %.2f%% ± %.2f%%, ours %.2f%% ± %.2f%% → %@", h.placement, h.method, 100 * h.paper.value,
                     100 * h.paper.error, 100 * h.ours.value, 100 * h.ours.error, h.verdict.rawValue))
      }
    }
  }

  struct TimingLine {
    var time: String, label: String, wall: Double, cpu: Double, command: String
  }

  /// The lines of the timings file (time, label, wall s, CPU s, command); empty when it does not exist.
  func readTimings() throws -> [TimingLine] {
    let path = timings ?? URL(fileURLWithPath: checkpoints).appendingPathComponent("scalar-timings.log").path
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.split(separator: "\n").compactMap { line in
      let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
      guard f.count >= 4, let wall = Double(f[2]), let cpu = Double(f[3]) else { return nil }
      return TimingLine(time: f[0], label: f[1], wall: wall, cpu: cpu, command: f.count > 4 ? f[4] : "")
    }
  }

  /// The run's `max_steps` from its debug.log (the last config line), nil when absent.
  static func maxSteps(_ runDirectory: URL) -> Int? {
    guard let text = try? String(contentsOf: runDirectory.appendingPathComponent("debug.log"), encoding: .utf8) else { return nil }
    let lines = text.split(separator: "\n").filter { $0.contains(" | max_steps ") }
    guard let line = lines.last, let range = line.range(of: " | max_steps ") else { return nil }
    return Int(line[range.upperBound...].prefix { $0.isNumber })
  }

  static func writeJSON(_ object: [String: Any], to url: URL) throws {
    try AtomicFile.write(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]), to: url)
  }
}

ScalarReport.main()
