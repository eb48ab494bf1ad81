import Foundation
import Tensor
import Testing
import TestSupport

/// What each tool holds against what its tensors need (issue 16): every tool that computes with tensors runs
/// twice on a generated dataset with the shakespeare_64x4 GPT and the presets' SAEs, once at a working size and
/// once on four sequences (the "tiny" run: the same code, libraries, threads, per-thread buffers and
/// parameters, almost no activations), with GPTCIRCUITS_TENSOR_MEMORY=1 so that it reports at exit its peak
/// RSS and the peak of its live tensors and work arrays ("needed"). What the process holds whatever the size is
/// fixed = tiny RSS − tiny needed; the bound is peak RSS − fixed ≤ 2 × needed. `scripts/peak-rss.sh` prints
/// the same figures at the presets' full sizes with the release tools. Runs in optimised test builds only.
@Suite(SharedData.required(ToolRunner.available, ToolRunner.missing),
       .enabled(if: BuildConfiguration.optimised, "measured once, in the optimised test run (the README's second test command), with the tools users run"))
struct PeakMemoryTests {
  /// Peak RSS and peak of live tensors and work arrays, in MiB, as the tool reports them at exit.
  struct Figures {
    var rss: Double
    var needed: Double
  }

  static func figures(_ tool: String, _ args: [String]) throws -> Figures {
    let r = try ToolRunner.run(tool, args, environment: ["GPTCIRCUITS_TENSOR_MEMORY": "1"])
    try #require(r.status == 0, "\(tool) \(args.joined(separator: " ")) failed: \(r.stderr)")
    let line = try #require(r.stderr.split(separator: "\n").last { $0.hasPrefix("tensor memory:") },
                            "\(tool) printed no tensor memory line: \(r.stderr)")
    /// The number just before `marker` (after it, when `after`).
    func number(_ marker: String, after: Bool = false) throws -> Double {
      let range = try #require(line.range(of: marker), "no “\(marker)” in \(line)")
      let token = after ? line[range.upperBound...].split(separator: " ").first : line[..<range.lowerBound].split(separator: " ").last
      return try #require(token.flatMap { Double($0) }, "no number at “\(marker)” in \(line)")
    }
    return Figures(rss: try number("peak RSS ", after: true), needed: try number(" MiB in live tensors and work arrays"))
  }

  /// Runs the tool at its working size and with `tiny` appended; checks and returns the ratio.
  @discardableResult
  static func check(_ label: String, _ tool: String, _ args: [String], tiny: [String]) throws -> Double {
    let start = Date()
    let full = try figures(tool, args)
    let small = try figures(tool, args + tiny)
    let fixed = small.rss - small.needed
    let ratio = (full.rss - fixed) / full.needed
    print(String(format: "peak memory %@ (%.1f s): RSS %.1f MiB, tiny run %.1f MiB, tensors and work arrays %.1f MiB (tiny %.1f), ratio %.2f",
                 label, Date().timeIntervalSince(start), full.rss, small.rss, full.needed, small.needed, ratio))
    #expect(ratio <= 2, "\(label) holds \(String(format: "%.1f", full.rss - fixed)) MiB beyond its fixed \(String(format: "%.1f", fixed)) MiB for \(String(format: "%.1f", full.needed)) MiB of tensors and work arrays")
    return ratio
  }

  /// Train and val shards of random ASCII tokens.
  static func dataset(_ root: URL) throws -> URL {
    let data = root.appendingPathComponent("data")
    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
    var g = RandomGenerator(seed: 16)
    for split in ["train", "val"] {
      let tokens = (0..<200_000).map { _ in UInt16(32 + Swift.min(89, Int(g.nextUniform() * 90))) }
      try NPY.write(NPYArray(shape: [tokens.count], data: .uint16(tokens)), to: data.appendingPathComponent("\(split)_000000.npy"))
    }
    return data
  }

  @Test func everyToolHoldsAtMostTwiceWhatItsTensorsNeed() throws {
    let root = try temporaryDirectory("peak-memory")
    defer { try? FileManager.default.removeItem(at: root) }
    let d = try Self.dataset(root).path
    let c = root.appendingPathComponent("ck").path, tinyRuns = root.appendingPathComponent("tiny").path
    let train = ["--data-dir", d, "--checkpoints-dir", c, "--max-steps", "2", "--eval-interval", "2", "--eval-steps", "1",
                 "--warmup-steps", "1", "--batch-size", "32"]
    let tinyTrain = ["--batch-size", "4", "--checkpoints-dir", tinyRuns]
    try Self.check("train-gpt", "train-gpt", ["--config", "shakespeare_64x4"] + train, tiny: tinyTrain)
    let gpt = c + "/shakespeare_64x4"
    try Self.check("train-sae topk + staircase", "train-sae",
                   ["--config", "topk.shakespeare_64x4", "--config", "topk-staircase-share.shakespeare_64x4", "--load-from", gpt] + train,
                   tiny: tinyTrain)
    try Self.check("train-sae jsae", "train-sae",
                   ["--config", "jsae.shakespeare_64x4", "--sparsity", "1e-3", "--load-from", gpt] + train, tiny: tinyTrain)
    let sae = c + "/topk.shakespeare_64x4"
    try Self.check("evaluate (GPT)", "evaluate", ["--checkpoint", gpt, "--data-dir", d, "--batches", "2", "--batch-size", "32"],
                   tiny: ["--batch-size", "4"])
    try Self.check("evaluate (SAEs)", "evaluate", ["--checkpoint", sae, "--data-dir", d, "--batches", "2", "--batch-size", "32"],
                   tiny: ["--batch-size", "4"])
    try Self.check("generate", "generate", ["--checkpoint", gpt, "--prompt", "ROMEO:", "--tokens", "40"], tiny: ["--tokens", "1"])
    let attributions = root.appendingPathComponent("attr.safetensors").path
    try Self.check("attribute", "attribute",
                   ["--checkpoint", sae, "--data-dir", d, "--output", attributions, "--method", "ig", "--steps", "2",
                    "--batches", "1", "--batch-size", "8"],
                   tiny: ["--batch-size", "4", "--output", root.appendingPathComponent("attr-tiny.safetensors").path])
    try Self.check("ablate", "ablate",
                   ["--checkpoint", sae, "--attributions", attributions, "--data-dir", d, "--out", root.appendingPathComponent("abl").path,
                    "--layers", "0", "--edges", "1,100,10000", "--prompts", "16"],
                   tiny: ["--prompts", "4", "--out", root.appendingPathComponent("abl-tiny").path])
    // scalar-report on the layout the replication scripts write: the TopK run against the Staircase run of the
    // group above, each attributed and ablated at layer 0.
    let layout = root.appendingPathComponent("layout")
    let staircase = "topk-staircase-share.shakespeare_64x4"
    for (run, file) in [("topk.shakespeare_64x4", attributions), (staircase, nil)] {
      let attributionFile = layout.appendingPathComponent("attributions/\(run).safetensors").path
      try FileManager.default.createDirectory(at: layout.appendingPathComponent("attributions"), withIntermediateDirectories: true)
      if let file {
        try FileManager.default.copyItem(atPath: file, toPath: attributionFile)
      } else {
        let r = try ToolRunner.run("attribute", ["--checkpoint", c + "/" + run, "--data-dir", d, "--output", attributionFile,
                                                 "--method", "ig", "--steps", "2", "--batches", "1", "--batch-size", "4", "--layers", "0"])
        try #require(r.status == 0, "attribute \(run): \(r.stderr)")
      }
      let r = try ToolRunner.run("ablate", ["--checkpoint", c + "/" + run, "--attributions", attributionFile, "--data-dir", d,
                                            "--out", layout.appendingPathComponent("results/\(run)").path, "--layers", "0",
                                            "--edges", "1,100,10000", "--prompts", "8"])
      try #require(r.status == 0, "ablate \(run): \(r.stderr)")
    }
    try Self.check("scalar-report", "scalar-report",
                   ["--placement", "transformer_block=TopK:topk.shakespeare_64x4,Staircase:\(staircase)", "--checkpoints", c,
                    "--attributions", layout.appendingPathComponent("attributions").path,
                    "--results", layout.appendingPathComponent("results").path, "--plots", layout.appendingPathComponent("no-plots").path,
                    "--data-dir", d, "--eval-batches", "2", "--eval-batch-size", "32", "--resamples", "50",
                    "--out", layout.appendingPathComponent("report").path],
                   tiny: ["--eval-batch-size", "4", "--out", layout.appendingPathComponent("report-tiny").path])
  }
}
