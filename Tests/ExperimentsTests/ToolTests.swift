import Foundation
import GPT
import SAE
import Tensor
import Testing
import Training
@testable import Experiments

/// Runs the built `attribute` / `ablate` executables (found beside the test bundle).
enum ToolRunner {
  static let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
  static var available: Bool {
    ["attribute", "ablate"].allSatisfy { FileManager.default.isExecutableFile(atPath: url($0).path) }
  }

  static func run(_ name: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = url(name)
    process.arguments = args
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
  }
}

@Suite(.enabled(if: ToolRunner.available, "the attribute/ablate executables are not built beside the test bundle"))
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

  @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: ToolRunner.url("evaluate").path), "evaluate is not built"))
  func evaluateReportsEachSAEsLossesAsComputedInProcess() throws {
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

  @Test func badInputFailsWithOneLine() throws {
    let w = try Self.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    let out = w.root.appendingPathComponent("o").path
    let base = ["--checkpoint", w.checkpoint.path, "--data-dir", w.data.path]
    let cases: [(String, [String], String)] = [
      ("attribute", base + ["--method", "shapley", "--output", out + ".safetensors"], "shapley"),
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
  }
}
