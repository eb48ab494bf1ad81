import ArgumentParser
import CommandSupport
import Experiments
import Foundation
import SAE
import Tensor
import Training

struct Plot: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "plot",
    abstract: "Plot edge-ablation sweeps (KL vs edges remaining) and print the SCALAR AUC table.",
    discussion: """
      Each --series names a label and one or more result directories written by `ablate` \
      (LABEL=DIR[,DIR…]). For every placement and upstream layer found, one SVG is written to --out \
      (TRANSFORMER_BLOCK_0.svg, FF_BLOCK_0.svg, FF_LAYER_3.svg, …): mean KL(full model ‖ pruned) over prompts \
      and positions against the number of edges kept (log x axis), 95% bootstrap intervals as error bars, \
      shaded areas under the curves, and the AUC ± error of each series in the legend. The table gives per \
      layer each series' AUC (trapezoid rule over the linear edge counts) and its relative improvement \
      1 − AUC/AUC_baseline with propagated errors, and the mean over layers; it is also written to \
      <out>/summary.txt and, as JSON, <out>/summary.json.
      """)

  @Option(name: .customLong("series"), help: ArgumentHelp("A labelled series: LABEL=DIR[,DIR…] (repeatable).", valueName: "label=dirs"))
  var series: [String] = []

  @Option(help: "Label of the baseline series for relative improvements (default: the first series).")
  var baseline: String?

  @Option(help: ArgumentHelp("Directory for the SVG plots and summary files.", valueName: "dir"))
  var out: String = "ablation/plots"

  @Option(help: "Edge selection whose results are used: gradient or random.")
  var selection: EdgeSelection = .gradient

  @Option(help: "Bootstrap resamples per point.")
  var resamples: Int = 1000

  @Option(help: "Seed of the bootstrap resampling.")
  var seed: UInt64 = 0

  @Flag(help: "Print the summary as one JSON object on stdout instead of the table.")
  var json = false

  func run() throws {
    guard !series.isEmpty else { throw ToolError("give at least one --series LABEL=DIR") }
    guard resamples > 0 else { throw ToolError("--resamples must be positive") }
    var loaded: [AblationSeries] = []
    for spec in series {
      let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw ToolError("--series '\(spec)' is not LABEL=DIR[,DIR…]")
      }
      guard !loaded.contains(where: { $0.label == parts[0] }) else { throw ToolError("series label '\(parts[0])' given twice") }
      let dirs = parts[1].split(separator: ",").map { URL(fileURLWithPath: String($0)) }
      loaded.append(try AblationSeries.load(label: parts[0], directories: dirs, selection: selection))
    }
    let summary = try ScalarSummary(series: loaded, baseline: baseline ?? loaded[0].label, resamples: resamples, seed: seed)
    let outDir = URL(fileURLWithPath: out)
    let lock = try DirectoryLock(directory: outDir, subject: "output directory \(outDir.path)")
    defer { lock.release() }
    var written: [String] = []
    for p in summary.placements {
      for l in p.layers {
        let url = outDir.appendingPathComponent("\(p.placement.rawValue)_\(l.layer).svg")
        try AtomicFile.write(Data(summary.plot(p, l).render().utf8), to: url)
        written.append(url.path)
      }
    }
    let table = summary.table
    try AtomicFile.write(Data(table.utf8), to: outDir.appendingPathComponent("summary.txt"))
    let object = summary.jsonObject
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    try AtomicFile.write(data, to: outDir.appendingPathComponent("summary.json"))
    FileHandle.standardError.write(Data("plot: wrote \(written.count) plots and summary.txt / summary.json to \(outDir.path)\n".utf8))
    if json { try printJSONObject(object) } else { print(table, terminator: "") }
  }
}

extension EdgeSelection: ExpressibleByArgument {}

Plot.main()
