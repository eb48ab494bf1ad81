import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
import TestSupport
import Training
@testable import Experiments

/// Runs the package's executables, built beside the test bundle by `swift build --build-tests` (debug) or
/// `swift build -c release … --build-tests` (release). Looked up beside the test runner first, then in the
/// package's build directory of this configuration, then of the other one.
enum ToolRunner {
  static let names = ["attribute", "ablate", "evaluate", "generate", "plot", "prepare-data", "scalar-report", "train-gpt", "train-sae"]

  static let configurations = BuildConfiguration.optimised ? ["release", "debug"] : ["debug", "release"]

  /// Directories searched, in order.
  static let candidates: [URL] = {
    let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    var dirs = [runner, runner.deletingLastPathComponent()]
    if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() { dirs.append(exe) }
    for c in configurations { dirs.append(SharedData.repositoryRoot.appendingPathComponent(".build/\(c)")) }
    return dirs
  }()

  /// The first candidate holding every tool.
  static let directory: URL? = candidates.first { dir in
    names.allSatisfy { FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent($0).path) }
  }

  static var available: Bool { directory != nil }

  static var missing: String {
    "the tools (\(names.joined(separator: ", "))) are not built beside the test bundle (run `swift build --build-tests`); looked in "
      + candidates.map(\.path).joined(separator: ", ")
  }

  static func url(_ name: String) throws -> URL {
    let dir = try #require(directory, Comment(rawValue: missing))
    return dir.appendingPathComponent(name)
  }

  /// Runs tool `name` with `args` (in `cwd`, with `environment` added to this process's).
  static func run(_ name: String, _ args: [String], in cwd: URL? = nil,
                  environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = try url(name)
    process.arguments = args
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    if let cwd { process.currentDirectoryURL = cwd }
    // stdout through a pipe, stderr into a file (so that neither can fill up and block the tool).
    let out = Pipe()
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("tool-stderr-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errURL) }
    let err = try FileHandle(forWritingTo: errURL)
    defer { try? err.close() }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let errData = try Data(contentsOf: errURL)
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData, as: UTF8.self))
  }
}

/// The executables as a user runs them: JSON summaries and files checked against the same computation in
/// process, `ablate` → `plot` on the same files, and one-line errors for bad input to every tool. Skipped
/// when the tools are not built, except in CI (a truthy `CI`), where that is a failure.
@Suite(SharedData.required(ToolRunner.available, ToolRunner.missing))
struct ToolTests {
  /// A tiny transformer-block checkpoint and a val shard of random tokens.
  static func workspace() throws -> (root: URL, checkpoint: URL, data: URL) {
    let root = try temporaryDirectory("tools")
    let model = try TestModels.transformerBlock(seed: 61)
    let checkpoint = root.appendingPathComponent("tiny_tblock")
    try model.save(to: checkpoint)
    let data = root.appendingPathComponent("data")
    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
    let tokens = TestModels.tokens(rows: 1, length: 600, seed: 62)
    try NPY.write(NPYArray(shape: [600], data: .uint16(tokens.scalars.map { UInt16($0) })),
                  to: data.appendingPathComponent("val_000000.npy"))
    return (root, checkpoint, data)
  }

  static func json(_ text: String) throws -> [String: Any] {
    let lines = text.split(separator: "\n")
    try #require(lines.count == 1, "stdout is not exactly one line: \(text)")
    return try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
  }

  @Test func attributeThenAblate() throws {
    let w = try Self.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    let attributions = w.root.appendingPathComponent("out/attr.safetensors")
    let a = try ToolRunner.run("attribute", ["--checkpoint", w.checkpoint.path, "--data-dir", w.data.path, "--steps", "2",
                                             "--batches", "2", "--batch-size", "3", "--output", attributions.path, "--json"])
    #expect(a.status == 0, "\(a.stderr)")
    let summary = try Self.json(a.stdout)
    #expect(summary["keys"] as? [String] == ["0-1", "1-2"])
    let file = try AttributionFile.read(attributions)
    #expect(file.metadata["model_name"] == "tiny_tblock" && file.metadata["steps"] == "2" && file.metadata["num_batches"] == "2")
    #expect(file.tensors["1-2"]?.shape == [24, 16])
    // The values are the in-process attributor's on the same batches.
    let model = try SparsifiedGPT.load(from: w.checkpoint)
    var loader = try TokenDataLoader(directory: w.data, split: .val, batchSize: 3, sequenceLength: model.gpt.config.blockSize)
    let inProcess = try IntegratedGradientsAttributor(model: model, steps: 2).run(loader: &loader, batches: 2)
    #expect(Set(inProcess.keys) == Set(file.tensors.keys))
    for (key, expected) in inProcess {
      let got = try #require(file.tensors[key])
      #expect(expected.max() > 0)
      #expect(got.maxAbsDifference(expected) <= 1e-5 * expected.max(), "attribute \(key): \(got.maxAbsDifference(expected))")
    }

    let out = w.root.appendingPathComponent("sweep")
    let b = try ToolRunner.run("ablate", ["--checkpoint", w.checkpoint.path, "--attributions", attributions.path,
                                          "--data-dir", w.data.path, "--layers", "1", "--edges", "1,5,100000",
                                          "--prompts", "3", "--sequence-length", "12", "--out", out.path, "--json"])
    #expect(b.status == 0, "\(b.stderr)")
    #expect(b.stderr.contains("warning") && b.stderr.contains("384"))
    let results = try #require(try Self.json(b.stdout)["results"] as? [[String: Any]])
    #expect(results.map { $0["edges"] as? Int } == [1, 5, 384])
    #expect(results.allSatisfy { $0["layer"] as? Int == 1 && $0["kl_full_model_mean"] is Double })
    #expect(results.last?["kl_full_circuit_mean"] as? Double == 0)
    // The KLs are the in-process sweep's with the same prompts, ranking (seed 125) and counts.
    let pair = try CircuitPair(model: model, layer: 1)
    let prompts = try PromptRows.load(dataDirectory: w.data, count: 3, length: 12)
    let clean = try withNoGrad { try model.gpt(prompts).value }
    let order = try EdgeRanking.byAttribution(try AttributionFile.matrix(file.tensors, for: pair, source: attributions.path), seed: 125)
    var points: [AblationPoint] = []
    try PairAblation(pair: pair, prompts: prompts, cleanLogits: clean).sweep(order: order, counts: [1, 5, 384]) { points.append($0) }
    for (row, point) in zip(results, points) {
      for (field, value) in [("kl_full_model_mean", point.klFullModelMean), ("kl_full_circuit_mean", point.klCircuitMean)] {
        let reported = try #require(row[field] as? Double)
        #expect(abs(reported - Double(value)) <= 1e-6 * Swift.max(1e-3, Double(value)), "ablate N \(point.edges) \(field): \(reported) vs \(value)")
      }
      let stored = try SafeTensors.read(contentsOf: out.appendingPathComponent("transblock_topk_gradient_1_\(point.edges).safetensors"))
      #expect(stored.tensors["kl_divergence_full_model"] == point.klFullModel, "N \(point.edges): stored per-position KL")
    }
    #expect(points.first.map { $0.klFullModelMean > 0 } == true)
    let names = Set(try FileManager.default.contentsOfDirectory(atPath: out.path))
    for n in [1, 5, 384] {
      #expect(names.contains("transblock_topk_gradient_1_\(n).safetensors"))
      #expect(names.contains("transblock_topk_gradient_1_\(n).safetensors.metadata.json"))
    }
    #expect(names.count == 6)
    // Random selection needs no attributions.
    let r = try ToolRunner.run("ablate", ["--checkpoint", w.checkpoint.path, "--selection", "random", "--data-dir", w.data.path,
                                          "--layers", "0", "--edges", "3", "--prompts", "2", "--sequence-length", "12",
                                          "--out", out.path, "--label", "mine", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("transblock_mine_random_0_3.safetensors").path))
  }

  @Test func evaluateReportsEachSAEsLossesAsComputedInProcess() throws {
    let w = try Self.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    let r = try ToolRunner.run("evaluate", ["--checkpoint", w.checkpoint.path, "--data-dir", w.data.path, "--split", "val",
                                            "--batches", "2", "--batch-size", "2", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let report = try Self.json(r.stdout)
    let model = try SparsifiedGPT.load(from: w.checkpoint)
    var loader = try TokenDataLoader(directory: w.data, split: .val, batchSize: 2, sequenceLength: model.gpt.config.blockSize)
    let m = try SparsifiedEvaluation.evaluate(model, loader: &loader, batches: 2)
    for (field, values) in [("reconstruction_loss", m.reconstruct), ("sae_loss", m.saeLoss), ("l0", m.l0)] {
      let reported = try #require(report[field] as? [String: Double], "no \(field) in \(r.stdout)")
      #expect(Set(reported.keys) == Set(model.keys.map(\.description)))
      for key in model.keys {
        let expected = Double(try #require(values[key]))
        #expect(abs((reported[key.description] ?? .nan) - expected) <= 1e-6 * Swift.max(1, abs(expected)), "\(field) \(key)")
      }
    }
    #expect(m.reconstruct.values.allSatisfy { $0 > 0 })
  }

  /// In CI this suite runs even when the tools are missing; then this fails and says where it looked.
  @Test func toolsAreBuilt() {
    #expect(ToolRunner.available, Comment(rawValue: ToolRunner.missing))
  }

  /// Runs `ablate --json` and returns its results as layer → (edges, kl_full_model_mean) in increasing edges.
  static func ablate(_ w: (root: URL, checkpoint: URL, data: URL), seed: Int, out: URL) throws -> [Int: [(edges: Int, kl: Double)]] {
    let r = try ToolRunner.run("ablate", ["--checkpoint", w.checkpoint.path, "--selection", "random", "--seed", "\(seed)",
                                          "--data-dir", w.data.path, "--layers", "0,1", "--edges", "1,10,60,200,100000",
                                          "--prompts", "3", "--sequence-length", "12", "--out", out.path, "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let results = try #require(try json(r.stdout)["results"] as? [[String: Any]])
    var byLayer: [Int: [(edges: Int, kl: Double)]] = [:]
    for row in results {
      let layer = try #require(row["layer"] as? Int), edges = try #require(row["edges"] as? Int)
      byLayer[layer, default: []].append((edges, try #require(row["kl_full_model_mean"] as? Double)))
    }
    return byLayer.mapValues { $0.sorted { $0.edges < $1.edges } }
  }

  static func trapezoid(_ points: [(edges: Int, kl: Double)]) -> Double {
    zip(points, points.dropFirst()).reduce(0.0) { $0 + Double($1.1.edges - $1.0.edges) * ($1.0.kl + $1.1.kl) / 2 }
  }

  /// `plot` reads the files and sidecars `ablate` wrote: per layer, each series' AUC is the trapezoid over
  /// the mean KLs `ablate` reported, the relative improvement is 1 − AUC_B/AUC_A, the mean over layers is
  /// their mean, and the plots and summary files are written.
  @Test func ablateThenPlotReportsTheCurvesOfTheFilesWritten() throws {
    let w = try Self.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    let dirA = w.root.appendingPathComponent("sweep-a"), dirB = w.root.appendingPathComponent("sweep-b")
    let a = try Self.ablate(w, seed: 7, out: dirA), b = try Self.ablate(w, seed: 8, out: dirB)
    #expect(a[0]?.map(\.edges) == [1, 10, 60, 200, 480] && a[1]?.map(\.edges) == [1, 10, 60, 200, 384])
    let plots = w.root.appendingPathComponent("plots")
    let p = try ToolRunner.run("plot", ["--series", "A=\(dirA.path)", "--series", "B=\(dirB.path)", "--baseline", "A",
                                        "--selection", "random", "--resamples", "100", "--out", plots.path, "--json"])
    #expect(p.status == 0, "\(p.stderr)")
    let summary = try Self.json(p.stdout)
    let placements = try #require(summary["placements"] as? [String: Any])
    #expect(Array(placements.keys) == [SAEPlacement.transformerBlock.rawValue])
    let tb = try #require(placements[SAEPlacement.transformerBlock.rawValue] as? [String: Any])
    let layers = try #require(tb["layers"] as? [String: Any])
    #expect(Set(layers.keys) == ["0", "1"])
    var improvements: [Double] = []
    for layer in [0, 1] {
      let entry = try #require(layers["\(layer)"] as? [String: Any])
      var aucs: [String: Double] = [:]
      for (label, series) in [("A", a), ("B", b)] {
        let curve = try #require(entry[label] as? [String: Any])
        let expected = Self.trapezoid(try #require(series[layer]))
        let auc = try #require(curve["auc"] as? Double)
        #expect(expected > 0)
        #expect(abs(auc - expected) <= 1e-5 * expected, "layer \(layer) \(label): plot AUC \(auc), trapezoid of ablate's means \(expected)")
        let points = try #require(curve["points"] as? [[String: Any]])
        #expect(points.compactMap { $0["edges"] as? Int } == series[layer]!.map(\.edges))
        aucs[label] = auc
      }
      let improvement = try #require((entry["relative_improvement"] as? [String: Any])?["B"] as? [String: Any])
      let value = try #require(improvement["value"] as? Double)
      #expect(abs(value - (1 - aucs["B"]! / aucs["A"]!)) <= 1e-9, "layer \(layer): relative improvement \(value)")
      #expect((improvement["error"] as? Double).map { $0 >= 0 } == true)
      improvements.append(value)
    }
    let mean = try #require((tb["mean_relative_improvement"] as? [String: Any])?["B"] as? [String: Any])
    #expect(abs((mean["value"] as? Double ?? .nan) - (improvements[0] + improvements[1]) / 2) <= 1e-9)
    let written = Set(try FileManager.default.contentsOfDirectory(atPath: plots.path))
    #expect(written == ["TRANSFORMER_BLOCK_0.svg", "TRANSFORMER_BLOCK_1.svg", "summary.txt", "summary.json"])
    let table = try String(contentsOf: plots.appendingPathComponent("summary.txt"), encoding: .utf8)
    #expect(table.contains("layer | A AUC | B AUC | B vs A"), "\(table)")
  }

  /// Bad input to `tool`: a non-zero exit, nothing on stdout, an `Error:` line naming the problem on stderr, and
  /// only that line for errors found while running (argument-parser usage errors add the usage lines).
  static func expectFailure(_ tool: String, _ args: [String], _ needle: String, usage: Bool = false,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try ToolRunner.run(tool, args)
    #expect(r.status != 0, "\(tool) \(args) succeeded", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
    #expect(lines.first?.hasPrefix("Error: ") == true && lines.first?.contains(needle) == true,
            "\(tool) \(args): '\(r.stderr)' lacks '\(needle)' on its first line", sourceLocation: sourceLocation)
    if !usage { #expect(lines.count == 1, "\(tool) \(args): \(r.stderr)", sourceLocation: sourceLocation) }
    #expect(r.stdout.isEmpty, "\(tool) \(args) wrote to stdout: \(r.stdout)", sourceLocation: sourceLocation)
  }

  @Test func badInputToTheTrainingToolsFailsWithOneLine() throws {
    let w = try Self.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    let missing = w.root.appendingPathComponent("missing").path
    let runs = ["--checkpoints-dir", w.root.appendingPathComponent("runs").path]
    try Self.expectFailure("train-gpt", ["--config", "nope"] + runs, "unknown training config 'nope'")
    try Self.expectFailure("train-gpt", ["--config", missing + ".json"] + runs, "missing.json")
    try Self.expectFailure("train-gpt", ["--config", "shakespeare_64x4", "--stop-after", "0"] + runs, "--stop-after must be at least 1")
    try Self.expectFailure("train-gpt", ["--config", "shakespeare_64x4", "--max-steps", "1"] + runs, "max_steps (1) must exceed warmup_steps (1000)")
    try Self.expectFailure("train-gpt", ["--config", "shakespeare_64x4", "--data-dir", missing, "--max-steps", "2000"] + runs, missing)
    try Self.expectFailure("train-sae", runs, "--config is required")
    try Self.expectFailure("train-sae", ["--config", "nope", "--load-from", w.checkpoint.path] + runs, "nope")
    try Self.expectFailure("train-sae", ["--config", "topk.shakespeare_64x4", "--load-from", missing] + runs, "not found")
    try Self.expectFailure("train-sae", ["--config", "standard.shakespeare_64x4", "--k", "3", "--load-from", w.checkpoint.path] + runs,
                           "--k applies to TopK variants only")
    try Self.expectFailure("train-sae", ["--config", "topk.shakespeare_64x4", "--load-from", w.checkpoint.path, "--stop-after", "0"] + runs,
                           "--stop-after must be at least 1")
    try Self.expectFailure("train-sae", ["--config", "topk.shakespeare_64x4", "--load-from", w.checkpoint.path, "--data-dir", w.data.path,
                                         "--max-steps", "1"] + runs, "does not match")
    let left = (try? FileManager.default.contentsOfDirectory(atPath: w.root.appendingPathComponent("runs").path)) ?? []
    #expect(left.isEmpty, "failed runs left \(left) behind")
  }

  @Test func badInputToGeneratePlotAndPrepareDataFailsWithOneLine() throws {
    let w = try Self.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    let missing = w.root.appendingPathComponent("missing").path
    let out = w.root.appendingPathComponent("o").path
    try Self.expectFailure("generate", ["--checkpoint", missing], "no GPT checkpoint")
    try Self.expectFailure("generate", ["--checkpoint", w.checkpoint.path], "no tokenizer for a vocabulary of 20 tokens")
    // An ascii-vocabulary GPT for the sampling options.
    let ascii = w.root.appendingPathComponent("ascii_gpt")
    try GPTCheckpoint.save(try GPT(config: GPTConfig(blockSize: 8, vocabSize: 128, nLayer: 1, nHead: 1, nEmbd: 8), seed: 3), to: ascii)
    try Self.expectFailure("generate", ["--checkpoint", ascii.path, "--tokens=-1"], "--tokens must be ≥ 0")
    try Self.expectFailure("generate", ["--checkpoint", ascii.path, "--temperature=-0.5"], "--temperature must be ≥ 0")
    try Self.expectFailure("generate", ["--checkpoint", ascii.path, "--top-k=-2"], "--top-k must be ≥ 0")
    try Self.expectFailure("generate", ["--checkpoint", ascii.path, "--prompt", ""], "encodes to no tokens")
    try Self.expectFailure("generate", ["--prompt", "hi"], "--checkpoint", usage: true)
    try Self.expectFailure("plot", ["--out", out], "give at least one --series")
    try Self.expectFailure("plot", ["--series", "A", "--out", out], "is not LABEL=DIR")
    try Self.expectFailure("plot", ["--series", "A=\(missing)", "--out", out], "no ablation results")
    try Self.expectFailure("plot", ["--series", "A=\(w.data.path)", "--resamples", "0", "--out", out], "--resamples must be positive")
    try Self.expectFailure("plot", ["--series", "A=\(w.data.path)", "--selection", "best", "--out", out], "'best' is invalid for '--selection",
                           usage: true)
    try Self.expectFailure("plot", ["--series", "A=\(w.data.path)", "--out", out], "no gradient-selection ablation results")
    let results = w.root.appendingPathComponent("results")
    let r = try ToolRunner.run("ablate", ["--checkpoint", w.checkpoint.path, "--selection", "random", "--data-dir", w.data.path,
                                          "--layers", "0", "--edges", "3", "--prompts", "2", "--sequence-length", "12", "--out", results.path])
    #expect(r.status == 0, "\(r.stderr)")
    try Self.expectFailure("plot", ["--series", "A=\(results.path)", "--series", "A=\(results.path)", "--selection", "random", "--out", out],
                           "series label 'A' given twice")
    try Self.expectFailure("plot", ["--series", "A=\(results.path)", "--selection", "random", "--baseline", "Z", "--out", out],
                           "baseline series 'Z'")
    let corpus = w.root.appendingPathComponent("corpus.txt")
    try Data(String(repeating: "To be, or not to be: that is the question.\n", count: 30).utf8).write(to: corpus)
    try Self.expectFailure("prepare-data", ["text", "--input", missing, "--tokenizer", "ascii", "--out", out], "missing")
    try Self.expectFailure("prepare-data", ["shakespeare", "--input", missing, "--out", out], "missing")
    try Self.expectFailure("prepare-data", ["text", "--input", corpus.path, "--tokenizer", "ascii", "--val-fraction", "2", "--out", out],
                           "--val-fraction must be between 0 and 1", usage: true)
    try Self.expectFailure("prepare-data", ["text", "--input", corpus.path, "--tokenizer", "gpt2", "--out", out],
                           "--tokenizer gpt2 needs --vocab FILE and --merges FILE", usage: true)
    try Self.expectFailure("prepare-data", ["text", "--input", corpus.path, "--tokenizer", "bpe", "--out", out], "bpe", usage: true)
    try Self.expectFailure("prepare-data", ["text", "--input", corpus.path, "--tokenizer", "gpt2", "--vocab", missing,
                                            "--merges", missing, "--out", out], "missing")
    try Self.expectFailure("evaluate", ["--checkpoint", w.checkpoint.path, "--data-dir", w.data.path, "--split", "test"], "'test' is invalid for '--split",
                           usage: true)
    try Self.expectFailure("evaluate", ["--checkpoint", w.checkpoint.path, "--data-dir", w.data.path, "--batches", "0"],
                           "--batch-size and --batches must be positive")
    try Self.expectFailure("evaluate", ["--checkpoint", missing, "--data-dir", w.data.path], "missing")
    try Self.expectFailure("evaluate", ["--checkpoint", w.checkpoint.path, "--data-dir", missing], "missing")
    #expect(!FileManager.default.fileExists(atPath: out), "a failed tool wrote its output")
  }

  @Test func badInputFailsWithOneLine() throws {
    let w = try Self.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    let out = w.root.appendingPathComponent("o").path
    let base = ["--checkpoint", w.checkpoint.path, "--data-dir", w.data.path]
    let cases: [(String, [String], String)] = [
      ("attribute", base + ["--output", out + ".bin"], ".safetensors"),
      ("attribute", base + ["--layers", "7", "--output", out + ".safetensors"], "layer 7"),
      ("attribute", ["--checkpoint", w.root.appendingPathComponent("missing").path, "--output", out + ".safetensors"], "missing"),
      ("attribute", base + ["--steps", "0", "--output", out + ".safetensors"], "--steps"),
      ("ablate", base + ["--out", out], "--attributions"),
      ("ablate", base + ["--selection", "random", "--edges", "0", "--out", out], "edges"),
      ("ablate", base + ["--selection", "random", "--prompts", "100", "--sequence-length", "12", "--out", out], "prompts"),
      ("ablate", base + ["--selection", "random", "--sequence-length", "64", "--out", out], "block size"),
      ("ablate", base + ["--attributions", w.root.appendingPathComponent("none.safetensors").path, "--out", out], "none.safetensors"),
    ]
    for (tool, args, needle) in cases {
      let r = try ToolRunner.run(tool, args)
      #expect(r.status != 0, "\(tool) \(args) succeeded")
      let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
      #expect(lines.count == 1, "\(tool): \(r.stderr)")
      #expect(r.stderr.contains(needle), "\(tool): '\(r.stderr)' lacks '\(needle)'")
      #expect(r.stdout.isEmpty)
    }
    // An unknown enum value is a usage error of the argument parser (the error line, then the usage lines).
    try Self.expectFailure("attribute", base + ["--method", "shapley", "--output", out + ".safetensors"],
                           "'shapley' is invalid for '--method", usage: true)
  }
}
