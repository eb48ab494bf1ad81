import Foundation
import GPT
import SAE
import Tensor
import Testing
import TestSupport
import Training
@testable import Experiments

/// The built tools (beside the test bundle), run as separate processes and stopped from outside.
enum ToolProcess {
  static let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  static let names = ["train-gpt", "train-sae", "attribute", "ablate", "evaluate", "prepare-data"]
  static var available: Bool { names.allSatisfy { FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path) } }

  /// How a process ended, with its output.
  struct Ending {
    var status: Int32
    /// True when a signal ended it (`status` is then the signal number).
    var signaled: Bool
    var stdout: String
    var stderr: String
    /// The stderr lines.
    var lines: [String] { stderr.split(separator: "\n").map(String.init) }
  }

  /// A started tool whose stdout and stderr go to files beside `log`.
  final class Running {
    let process = Process()
    let out: URL, err: URL
    init(_ name: String, _ arguments: [String], log: URL) throws {
      out = log.appendingPathExtension("out")
      err = log.appendingPathExtension("err")
      FileManager.default.createFile(atPath: out.path, contents: nil)
      FileManager.default.createFile(atPath: err.path, contents: nil)
      process.executableURL = ToolProcess.directory.appendingPathComponent(name)
      process.arguments = arguments
      process.standardOutput = try FileHandle(forWritingTo: out)
      process.standardError = try FileHandle(forWritingTo: err)
      try process.run()
    }
    var pid: Int32 { process.processIdentifier }
    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }
    func wait() -> Ending {
      process.waitUntilExit()
      return Ending(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                    stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                    stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
  }

  static func run(_ name: String, _ arguments: [String], log: URL) throws -> Ending {
    try Running(name, arguments, log: log).wait()
  }

  /// Polls `condition` every 0.2 ms until it holds (true) or `seconds` pass (false).
  static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
      if condition() { return true }
      usleep(200)
    }
    return condition()
  }
}

/// A tiny world for the tools: ascii token shards, a GPT checkpoint (ascii_64x4) for train-sae, and a small
/// transformer-block SAE checkpoint with its own val shard for attribute / ablate / evaluate.
final class ToolWorkspace {
  let root: URL
  var data: URL { root.appendingPathComponent("data") }
  var gpt: URL { root.appendingPathComponent("gpt") }
  var tiny: URL { root.appendingPathComponent("tiny_tblock") }
  var tinyData: URL { root.appendingPathComponent("tiny-data") }
  var logs: URL { root.appendingPathComponent("logs") }

  init(_ label: String) throws {
    root = try temporaryDirectory(label)
    var g = RandomGenerator(seed: 11)
    func tokens(_ n: Int) -> [Int32] { (0..<n).map { i in Int32((i * 7 + g.nextInt(below: 5)) % 96 + 32) } }
    try TokenShards.write(tokens(12_000), split: .train, vocabularySize: 128, shardTokens: 6_000, to: data)
    try TokenShards.write(tokens(1_500), split: .val, vocabularySize: 128, shardTokens: 1_500, to: data)
    try GPTCheckpoint.save(try GPT(config: GPTConfig.preset("ascii_64x4")!, seed: 5), to: gpt)
    try TestModels.transformerBlock(seed: 61).save(to: tiny)
    let small = TestModels.tokens(rows: 1, length: 600, seed: 62)
    try TokenShards.write(small.scalars, split: .val, vocabularySize: 20, shardTokens: 600, to: tinyData)
    try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: root) }

  func log(_ name: String) -> URL { logs.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))") }

  /// train-gpt arguments of a small run `name` under `checkpoints` (ascii_64x4, batch 2 × 128 tokens,
  /// evaluation every 2 steps over 1 batch, a train.log line every step).
  func trainGPT(_ name: String, checkpoints: URL, maxSteps: Int) -> [String] {
    ["--config", "shakespeare_64x4", "--name", name, "--data-dir", data.path, "--checkpoints-dir", checkpoints.path,
     "--max-steps", "\(maxSteps)", "--batch-size", "2", "--eval-interval", "2", "--eval-steps", "1", "--log-interval", "1",
     "--warmup-steps", "2", "--learning-rate", "3e-3", "--min-lr", "3e-4"]
  }

  /// A concurrent SAE training config file: TopK SAEs of 64 features (k 4) at the five act keys.
  func saeConfig(_ name: String, maxSteps: Int, staircase: Bool = false) throws -> URL {
    let model = SAEModelConfig(name: "m-\(name)", gptConfig: "ascii_64x4", nFeatures: staircase ? [32, 64, 96, 128, 160] : [64, 64, 64, 64, 64],
                               saeVariant: staircase ? .topKStaircase : .topK, topK: [4, 4, 4, 4, 4], saeKeys: SAEModelConfig.actKeys(5))
    var c = SAETrainingConfig(name: name, saeConfig: model.name, dataDir: data.path, logInterval: 1, evalInterval: 4, evalSteps: 1,
                              batchSize: 1, learningRate: 3e-3, warmupSteps: 2, maxSteps: maxSteps, minLR: 3e-4)
    c.saeModel = model
    let url = root.appendingPathComponent("\(name).json")
    try JSONEncoder().encode(c).write(to: url)
    return url
  }

  /// An attribution file of the tiny checkpoint (layers 0 and 1), written by `attribute`.
  func attributions(_ url: URL) throws {
    let r = try ToolProcess.run("attribute", ["--checkpoint", tiny.path, "--data-dir", tinyData.path, "--steps", "2", "--batches", "2",
                                              "--batch-size", "3", "--output", url.path], log: log("attribute"))
    #expect(r.status == 0, "\(r.stderr)")
  }

  /// ablate arguments: layers 0 and 1, edge counts 1…`points` (per layer), 3 prompts of 12 tokens.
  func ablate(out: URL, attributions: URL, points: Int) -> [String] {
    ["--checkpoint", tiny.path, "--attributions", attributions.path, "--data-dir", tinyData.path, "--layers", "0,1",
     "--edges", (1...points).map(String.init).joined(separator: ","), "--prompts", "3", "--sequence-length", "12", "--out", out.path]
  }
}

/// Reliability of the tools as processes: SIGINT / SIGTERM stop training after the current step and `--resume`
/// continues bit-identically (one run, and every run of a group); SIGKILL at 20 random moments (during
/// checkpoint, resume-state and result writes too) with resumes in between ends bit-identical to an
/// uninterrupted run, for training and for an ablation sweep; locked run and output directories refuse a
/// second process and stale locks are taken over; a full file system (a small tmpfs, where mounting is
/// allowed) gives one-line errors and keeps the previous files; an evaluation meeting NaN names the SAE. The
/// tools' behaviour as processes does not depend on the build, so the suite runs once, in the optimised test run.
@Suite(.serialized, .enabled(if: ToolProcess.available, "the tools are not built beside the test bundle"),
       .enabled(if: BuildConfiguration.optimised, "run once, in the optimised test run (the README's second test command), with the tools users run"))
struct ProcessReliabilityTests {
  /// The float tensors of a safetensors file, as bit patterns.
  static func bits(_ url: URL) throws -> [String: [UInt32]] {
    try SafeTensors.read(contentsOf: url).tensors.mapValues { $0.scalars.map(\.bitPattern) }
  }

  /// Expects the run's best checkpoint and resume state (weights and optimizer) to equal `reference`'s bit for bit.
  static func expectSameTraining(_ run: URL, _ reference: URL, files: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    for file in files {
      let a = try bits(run.appendingPathComponent(file)), b = try bits(reference.appendingPathComponent(file))
      #expect(a == b, "\(file) of \(run.lastPathComponent) differs from \(reference.lastPathComponent)", sourceLocation: sourceLocation)
    }
  }

  static let gptFiles = ["model.safetensors", "resume/model.safetensors", "resume/optimizer.safetensors"]
  static let saeFiles = ["sae.0.safetensors", "sae.4.safetensors", "resume/sae.safetensors", "resume/optimizer.safetensors"]

  static func resumeStep(_ run: URL) throws -> Int {
    struct Step: Decodable { var step: Int }
    return try ResumeStore(runDirectory: run).load(Step.self, files: []).0.step
  }

  static func names(_ dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
  }

  /// Lines of a run's train.log.
  static func trainLines(_ run: URL) -> Int {
    ((try? String(contentsOf: run.appendingPathComponent("train.log"), encoding: .utf8)) ?? "").split(separator: "\n").count
  }

  // MARK: signals

  @Test func sigintAndSigtermStopTrainingAfterTheStepAndResumeBitIdentically() throws {
    let w = try ToolWorkspace("signals")
    let checkpoints = w.root.appendingPathComponent("checkpoints")
    let started = Date()
    let whole = try ToolProcess.run("train-gpt", w.trainGPT("whole", checkpoints: checkpoints, maxSteps: 60), log: w.log("whole"))
    #expect(whole.status == 0, "\(whole.stderr)")
    let stepSeconds = Date().timeIntervalSince(started) / 60
    for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
      let run = checkpoints.appendingPathComponent(name)
      let p = try ToolProcess.Running("train-gpt", w.trainGPT(name, checkpoints: checkpoints, maxSteps: 60), log: w.log(name))
      #expect(ToolProcess.waitUntil(seconds: 120) { Self.trainLines(run) >= 3 }, "no third step logged")
      p.signal(sig)
      let end = p.wait()
      #expect(!end.signaled && end.status == 128 + sig, "\(name): status \(end.status)\n\(end.stderr)")
      #expect(end.lines.contains("\(name) received: stopping after the current step, with the resume state written (send it again to stop at once)"))
      let step = try Self.resumeStep(run)
      #expect(step >= 3 && step < 60)
      #expect(end.lines.last == "stopped by \(name): run \(name) after step \(step) (resume state in \(run.path)/resume); continue with --resume")
      #expect(!Self.names(run).contains(".lock"))
      let resumed = try ToolProcess.run("train-gpt", w.trainGPT(name, checkpoints: checkpoints, maxSteps: 60) + ["--resume"], log: w.log(name))
      #expect(resumed.status == 0, "\(resumed.stderr)")
      try Self.expectSameTraining(run, checkpoints.appendingPathComponent("whole"), files: Self.gptFiles)
    }
    // A second signal ends the process at once, mid-step (steps of accumulated micro-batches of 8 sequences,
    // about four times a step above each, made to last at least a second), leaving the last complete
    // resume state (written after every step here), from which the run continues. Both signals must land
    // inside a step: the first is sent a fifth of a second after a resume state appears, once the next step
    // is under way (sent at the step boundary itself, it can reach the stop check before the next step
    // starts, and the run then stops normally before the second arrives).
    let run = checkpoints.appendingPathComponent("twice")
    let accumulation = Swift.max(8, Int((1.0 / (4 * stepSeconds)).rounded(.up)))
    let args = w.trainGPT("twice", checkpoints: checkpoints, maxSteps: 60)
      + ["--batch-size", "8", "--gradient-accumulation-steps", "\(accumulation)", "--eval-interval", "1"]
    let p = try ToolProcess.Running("train-gpt", args, log: w.log("twice"))
    #expect(ToolProcess.waitUntil(seconds: 120) { ResumeStore(runDirectory: run).exists })
    usleep(200_000)
    p.signal(SIGINT)
    #expect(ToolProcess.waitUntil(seconds: 60) { ((try? String(contentsOf: p.err, encoding: .utf8)) ?? "").contains("SIGINT received:") })
    p.signal(SIGINT)
    let end = p.wait()
    #expect(!end.signaled && end.status == 130, "status \(end.status)\n\(end.stderr)")
    #expect(end.lines.last == "SIGINT received again: stopping at once", "\(end.stderr)")
    // The lock stays behind when the second signal lands mid-step; on a loaded machine the second signal can
    // arrive after the stopping step already released it (the process then still exits at once with 130).
    let leftLock = Self.names(run).contains(".lock")
    let resumed = try ToolProcess.run("train-gpt", args + ["--resume", "--stop-after", "\(try Self.resumeStep(run) + 1)"], log: w.log("twice"))
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let tookOver = resumed.lines.contains { $0.hasPrefix("notice: taking over the lock of run directory \(run.path) left by process \(p.pid)") }
    #expect(tookOver == leftLock, "lock left: \(leftLock)\n\(resumed.stderr)")
  }

  @Test func sigtermStopsEveryRunOfATrainSAEGroupAfterItsStep() throws {
    let w = try ToolWorkspace("group-signal")
    let configs = [try w.saeConfig("a", maxSteps: 24), try w.saeConfig("b", maxSteps: 28, staircase: true)]
    func args(_ checkpoints: URL) -> [String] {
      configs.flatMap { ["--config", $0.path] } + ["--load-from", w.gpt.path, "--checkpoints-dir", checkpoints.path, "--seed", "3"]
    }
    let whole = w.root.appendingPathComponent("whole")
    let reference = try ToolProcess.run("train-sae", args(whole), log: w.log("whole"))
    #expect(reference.status == 0, "\(reference.stderr)")
    let stopped = w.root.appendingPathComponent("stopped")
    let p = try ToolProcess.Running("train-sae", args(stopped), log: w.log("group"))
    #expect(ToolProcess.waitUntil(seconds: 120) { Self.trainLines(stopped.appendingPathComponent("b")) >= 3 })
    p.signal(SIGTERM)
    let end = p.wait()
    #expect(!end.signaled && end.status == 143, "status \(end.status)\n\(end.stderr)")
    let a = stopped.appendingPathComponent("a"), b = stopped.appendingPathComponent("b")
    let step = try Self.resumeStep(a)
    #expect(try Self.resumeStep(b) == step, "the runs stopped at different steps")
    #expect(step >= 3 && step < 24)
    #expect(end.lines.last == "stopped by SIGTERM: run a after step \(step) (resume state in \(a.path)/resume), run b after step \(step) (resume state in \(b.path)/resume); continue with --resume")
    #expect(!Self.names(a).contains(".lock") && !Self.names(b).contains(".lock"))
    let resumed = try ToolProcess.run("train-sae", args(stopped) + ["--resume"], log: w.log("group-resume"))
    #expect(resumed.status == 0, "\(resumed.stderr)")
    for name in ["a", "b"] {
      try Self.expectSameTraining(stopped.appendingPathComponent(name), whole.appendingPathComponent(name), files: Self.saeFiles)
    }
  }

  // MARK: crash anywhere

  /// Kills train-gpt with SIGKILL at 20 moments drawn from a seeded generator, restarting it after each (with
  /// --resume once a resume state exists), then lets it finish. A moment is a random number (0–5) of further
  /// logged steps plus a random fraction of a step; for two kills in three the kill then waits for the next
  /// write in progress — a resume state (resume.partial exists) or a checkpoint file (its temporary file
  /// exists). The result equals an uninterrupted run bit for bit, kills must have landed inside writes, and
  /// the next start reports and removes what they left.
  @Test func sigkillAtTwentyMomentsThenResumeEndsBitIdentical() throws {
    let w = try ToolWorkspace("crash-train")
    let checkpoints = w.root.appendingPathComponent("checkpoints")
    let steps = 100
    let started = Date()
    let whole = try ToolProcess.run("train-gpt", w.trainGPT("whole", checkpoints: checkpoints, maxSteps: steps), log: w.log("whole"))
    #expect(whole.status == 0, "\(whole.stderr)")
    let stepMicroseconds = Int(Date().timeIntervalSince(started) * 1e6) / steps
    let run = checkpoints.appendingPathComponent("crash")
    var g = RandomGenerator(seed: 20_260_416)
    var kills = 0, insideWrites = 0, reportedLeftovers = 0
    func args() -> [String] {
      w.trainGPT("crash", checkpoints: checkpoints, maxSteps: steps) + (ResumeStore(runDirectory: run).exists ? ["--resume"] : [])
    }
    func writing(_ mode: Int) -> Bool {
      if mode == 1 { return FileManager.default.fileExists(atPath: run.appendingPathComponent("resume.partial").path) }
      return Self.names(run).contains { $0.hasPrefix(".model.") && $0.contains(".tmp-") }
    }
    while kills < 20 {
      let target = Self.trainLines(run) + g.nextInt(below: 6)
      let p = try ToolProcess.Running("train-gpt", args(), log: w.log("crash"))
      _ = ToolProcess.waitUntil(seconds: 60) { Self.trainLines(run) >= target || !p.process.isRunning }
      usleep(UInt32(g.nextInt(below: stepMicroseconds)))
      let mode = kills % 3
      if mode != 0 { _ = ToolProcess.waitUntil(seconds: 60) { writing(mode) || !p.process.isRunning } }
      p.signal(SIGKILL)
      let end = p.wait()
      if end.lines.contains(where: { $0.hasPrefix("notice: removed what interrupted writes left") }) { reportedLeftovers += 1 }
      guard end.signaled else {
        Issue.record("the run completed after \(kills) kills; status \(end.status)\n\(end.stderr)")
        break
      }
      kills += 1
      if FileManager.default.fileExists(atPath: run.appendingPathComponent("resume.partial").path)
        || Self.names(run).contains(where: { $0.contains(".tmp-") }) {
        insideWrites += 1
      }
    }
    let last = try ToolProcess.run("train-gpt", args(), log: w.log("final"))
    #expect(last.status == 0, "\(last.stderr)")
    if last.lines.contains(where: { $0.hasPrefix("notice: removed what interrupted writes left") }) { reportedLeftovers += 1 }
    Terminal.line("crash-anywhere train-gpt: \(kills) SIGKILLs, \(insideWrites) inside writes, \(reportedLeftovers) starts removed leftovers")
    #expect(insideWrites >= 5, "only \(insideWrites) of \(kills) kills landed inside a write")
    #expect(reportedLeftovers >= 1, "no start reported the leftovers of an interrupted write")
    try Self.expectSameTraining(run, checkpoints.appendingPathComponent("whole"), files: Self.gptFiles)
    #expect(!Self.names(run).contains { $0.contains(".tmp-") || $0 == "resume.partial" || $0 == ".lock" })
  }

  /// A JSAE run (Jacobian term on, batch 8 × 128 tokens: 8 Jacobian chunks, 4 TopK-backward chunks) stopped
  /// after step 2 on one core and resumed on all of them ends bit-identical to an uninterrupted run on all cores:
  /// the kernels' partial sums follow a fixed partition, not the thread count.
  @Test(.enabled(if: Parallel.threadCount >= 2 && FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset"),
                 "needs two cores and taskset"))
  func aRunResumedOnAnotherCoreCountContinuesBitIdentically() throws {
    let w = try ToolWorkspace("cores")
    let checkpoints = w.root.appendingPathComponent("checkpoints")
    func args(_ name: String) -> [String] {
      ["--config", "jsae.shakespeare_64x4", "--sparsity", "1e-3", "--load-from", w.gpt.path, "--name", name,
       "--data-dir", w.data.path, "--checkpoints-dir", checkpoints.path, "--batch-size", "8", "--max-steps", "4",
       "--eval-interval", "2", "--eval-steps", "1", "--log-interval", "1", "--warmup-steps", "2"]
    }
    let whole = try ToolProcess.run("train-sae", args("whole"), log: w.log("whole"))
    #expect(whole.status == 0, "\(whole.stderr)")
    let tool = ToolProcess.directory.appendingPathComponent("train-sae").path
    let first = try ToolProcess.runSystem("/usr/bin/taskset", ["-c", "0", tool] + args("split") + ["--stop-after", "2"])
    #expect(first.status == 0, "\(first.stderr)")
    let split = checkpoints.appendingPathComponent("split")
    #expect(try Self.resumeStep(split) == 2)
    let rest = try ToolProcess.run("train-sae", args("split") + ["--resume"], log: w.log("rest"))
    #expect(rest.status == 0, "\(rest.stderr)")
    try Self.expectSameTraining(split, checkpoints.appendingPathComponent("whole"),
                                files: ["sae.0.safetensors", "sae.7.safetensors", "resume/sae.safetensors", "resume/optimizer.safetensors"])
  }

  /// The same for an ablation sweep with --resume (a moment: 0–7 further finished points plus a random
  /// fraction of one; every other kill then waits for a result file or sidecar being written): the result
  /// files end byte-identical to an uninterrupted sweep's (sidecars up to their timestamps and timings); a
  /// sidecar on disk always describes a complete result file; a result file that lost its sidecar, or was
  /// damaged, is recomputed rather than taken for a finished one.
  @Test func sigkillAtTwentyMomentsDuringAnAblationSweep() throws {
    let w = try ToolWorkspace("crash-ablate")
    let attributions = w.root.appendingPathComponent("attr.safetensors")
    try w.attributions(attributions)
    let points = 120
    let wholeDir = w.root.appendingPathComponent("whole"), dir = w.root.appendingPathComponent("killed")
    let started = Date()
    let whole = try ToolProcess.run("ablate", w.ablate(out: wholeDir, attributions: attributions, points: points), log: w.log("whole"))
    #expect(whole.status == 0, "\(whole.stderr)")
    let pointMicroseconds = Int(Date().timeIntervalSince(started) * 1e6) / (2 * points)
    func sidecars() -> Int { Self.names(dir).filter { $0.hasSuffix(".metadata.json") }.count }
    var g = RandomGenerator(seed: 125)
    var kills = 0, insideWrites = 0
    while kills < 20 {
      let target = sidecars() + g.nextInt(below: 8)
      let p = try ToolProcess.Running("ablate", w.ablate(out: dir, attributions: attributions, points: points) + ["--resume"], log: w.log("kill"))
      _ = ToolProcess.waitUntil(seconds: 60) { sidecars() >= target || !p.process.isRunning }
      usleep(UInt32(g.nextInt(below: pointMicroseconds)))
      if kills % 2 == 1 {
        _ = ToolProcess.waitUntil(seconds: 60) { Self.names(dir).contains { $0.contains(".tmp-") } || !p.process.isRunning }
      }
      p.signal(SIGKILL)
      let end = p.wait()
      guard end.signaled else {
        Issue.record("the sweep completed after \(kills) kills\n\(end.stderr)")
        break
      }
      kills += 1
      if Self.names(dir).contains(where: { $0.contains(".tmp-") }) { insideWrites += 1 }
      // Every sidecar on disk describes a complete result file.
      for name in Self.names(dir) where name.hasSuffix(".safetensors.metadata.json") {
        let sidecar = try AblationResultFile.Sidecar.decode(try Data(contentsOf: dir.appendingPathComponent(name)), source: name)
        let file = try Data(contentsOf: dir.appendingPathComponent(String(name.dropLast(".metadata.json".count))))
        #expect(sidecar.fileBytes == file.count && sidecar.fileDigest == AblationResultFile.digest(file), "\(name)")
      }
    }
    Terminal.line("crash-anywhere ablate: \(kills) SIGKILLs, \(insideWrites) inside writes")
    #expect(insideWrites >= 3, "only \(insideWrites) of \(kills) kills landed inside a write")
    let finish = try ToolProcess.run("ablate", w.ablate(out: dir, attributions: attributions, points: points) + ["--resume"], log: w.log("finish"))
    #expect(finish.status == 0, "\(finish.stderr)")
    try Self.expectSameResults(dir, wholeDir)
    #expect(finish.stdout == whole.stdout, "the summary of a resumed sweep differs")

    // A result file without its sidecar, and a damaged one, are recomputed; the others are kept.
    let stem = "transblock_topk_gradient_1_7.safetensors", damaged = "transblock_topk_gradient_0_30.safetensors"
    try FileManager.default.removeItem(at: dir.appendingPathComponent(stem + ".metadata.json"))
    let bytes = try Data(contentsOf: dir.appendingPathComponent(damaged))
    try bytes.prefix(bytes.count / 2).write(to: dir.appendingPathComponent(damaged))
    let again = try ToolProcess.run("ablate", w.ablate(out: dir, attributions: attributions, points: points) + ["--resume"], log: w.log("again"))
    #expect(again.status == 0, "\(again.stderr)")
    #expect(again.stderr.contains("\(2 * points) points (\(2 * points - 2) already complete)"), "\(again.stderr)")
    try Self.expectSameResults(dir, wholeDir)
  }

  /// Result files byte-identical; sidecars equal without `timestamp` and `results.execution_time`.
  static func expectSameResults(_ dir: URL, _ reference: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let files = names(dir).filter { !$0.hasPrefix(".") }
    #expect(files == names(reference).filter { !$0.hasPrefix(".") }, sourceLocation: sourceLocation)
    func normalized(_ url: URL) throws -> Data {
      var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
      object["timestamp"] = nil
      var results = object["results"] as? [String: Any] ?? [:]
      results["execution_time"] = nil
      object["results"] = results
      return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
    for name in files {
      let a = dir.appendingPathComponent(name), b = reference.appendingPathComponent(name)
      if name.hasSuffix(".metadata.json") {
        #expect(try normalized(a) == normalized(b), "\(name)", sourceLocation: sourceLocation)
      } else {
        #expect(try Data(contentsOf: a) == Data(contentsOf: b), "\(name)", sourceLocation: sourceLocation)
      }
    }
  }

  // MARK: locks

  @Test func aSecondProcessOnTheSameRunIsRefusedAndAStaleLockTakenOver() throws {
    let w = try ToolWorkspace("locks")
    let checkpoints = w.root.appendingPathComponent("checkpoints")
    let run = checkpoints.appendingPathComponent("shared")
    // Two train-gpt processes on one run: the second refuses, naming the first's pid.
    let first = try ToolProcess.Running("train-gpt", w.trainGPT("shared", checkpoints: checkpoints, maxSteps: 5000), log: w.log("first"))
    #expect(ToolProcess.waitUntil(seconds: 60) { Self.trainLines(run) >= 1 })
    let second = try ToolProcess.run("train-gpt", w.trainGPT("shared", checkpoints: checkpoints, maxSteps: 5000) + ["--resume"], log: w.log("second"))
    #expect(second.status == 1 && !second.signaled)
    #expect(second.lines == ["Error: run directory \(run.path) is in use by process \(first.pid) (lock file \(run.path)/.lock); wait for it to finish or stop it first"])
    first.signal(SIGINT)
    #expect(first.wait().status == 130)
    #expect(!Self.names(run).contains(".lock"))

    // A lock left by a process that no longer exists: taken over with a notice, and removed at the end.
    let dead = Process()
    dead.executableURL = URL(fileURLWithPath: "/bin/true")
    try dead.run()
    dead.waitUntilExit()
    let stale = dead.processIdentifier
    try Data("\(stale)\n".utf8).write(to: run.appendingPathComponent(".lock"))
    let resumed = try ToolProcess.run("train-gpt", w.trainGPT("shared", checkpoints: checkpoints, maxSteps: 5000) + ["--resume", "--stop-after", "6"], log: w.log("stale"))
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(resumed.lines.contains("notice: taking over the lock of run directory \(run.path) left by process \(stale), which is no longer running (\(run.path)/.lock)"))
    #expect(!Self.names(run).contains(".lock"))

    // attribute, ablate and train-sae: a claim held by this process is named; nothing is written.
    let attributions = w.root.appendingPathComponent("out/attr.safetensors")
    let held = try DirectoryLock(lockFile: DirectoryLock.url(forFile: attributions), subject: "output \(attributions.path)")
    let attribute = try ToolProcess.run("attribute", ["--checkpoint", w.tiny.path, "--data-dir", w.tinyData.path, "--steps", "2", "--batches", "1",
                                                      "--batch-size", "2", "--output", attributions.path], log: w.log("attr"))
    #expect(attribute.status == 1)
    #expect(attribute.lines == ["Error: output \(attributions.path) is in use by process \(getpid()) (lock file \(held.url.path)); wait for it to finish or stop it first"])
    #expect(!FileManager.default.fileExists(atPath: attributions.path))
    held.release()
    try w.attributions(attributions)
    #expect(Self.names(attributions.deletingLastPathComponent()) == ["attr.safetensors"])

    let out = w.root.appendingPathComponent("sweep")
    let outLock = try DirectoryLock(directory: out, subject: "x")
    let ablate = try ToolProcess.run("ablate", w.ablate(out: out, attributions: attributions, points: 3), log: w.log("ablate"))
    #expect(ablate.status == 1)
    #expect(ablate.lines == ["Error: output directory \(out.path) is in use by process \(getpid()) (lock file \(out.path)/.lock); wait for it to finish or stop it first"])
    #expect(Self.names(out) == [".lock"])
    outLock.release()
    #expect(!FileManager.default.fileExists(atPath: out.path), "the released claim left the directory it created")
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    try Data("\(stale)\n".utf8).write(to: out.appendingPathComponent(".lock"))
    let staleAblate = try ToolProcess.run("ablate", w.ablate(out: out, attributions: attributions, points: 3), log: w.log("ablate"))
    #expect(staleAblate.status == 0, "\(staleAblate.stderr)")
    #expect(staleAblate.lines.contains("notice: taking over the lock of output directory \(out.path) left by process \(stale), which is no longer running (\(out.path)/.lock)"))
    #expect(Self.names(out).count == 12 && !Self.names(out).contains(".lock"))

    let saeRuns = w.root.appendingPathComponent("sae-runs")
    let configs = [try w.saeConfig("a", maxSteps: 4), try w.saeConfig("b", maxSteps: 4)]
    let runLock = try DirectoryLock(directory: saeRuns.appendingPathComponent("b"), subject: "x")
    let group = try ToolProcess.run("train-sae", configs.flatMap { ["--config", $0.path] }
                                      + ["--load-from", w.gpt.path, "--checkpoints-dir", saeRuns.path], log: w.log("sae"))
    #expect(group.status == 1)
    #expect(group.lines.last == "Error: run directory \(saeRuns.path)/b is in use by process \(getpid()) (lock file \(saeRuns.path)/b/.lock); wait for it to finish or stop it first")
    #expect(!Self.names(saeRuns.appendingPathComponent("a")).contains(".lock"), "the group kept run a's lock")
    runLock.release()

    // prepare-data locks its output directory too.
    let prepared = w.root.appendingPathComponent("prepared"), corpus = w.root.appendingPathComponent("corpus.txt")
    try Data(String(repeating: "To be, or not to be: that is the question. ", count: 100).utf8).write(to: corpus)
    let prepareLock = try DirectoryLock(directory: prepared, subject: "x")
    let prepare = try ToolProcess.run("prepare-data", ["text", "--input", corpus.path, "--tokenizer", "ascii", "--out", prepared.path], log: w.log("prepare"))
    #expect(prepare.status == 1)
    #expect(prepare.lines.last == "Error: output directory \(prepared.path) is in use by process \(getpid()) (lock file \(prepared.path)/.lock); wait for it to finish or stop it first")
    #expect(Self.names(prepared) == [".lock"])
    prepareLock.release()
  }

  // MARK: full disk

  /// Mounts a small tmpfs (needs CAP_SYS_ADMIN; cancelled where mounting is not allowed — the injected-ENOSPC
  /// tests in TensorTests, TrainingTests and ExperimentsTests cover the same paths everywhere), writes a
  /// checkpoint, an attribution file and ablation results onto it, fills it up to the last page (which the
  /// next lock file takes), and writes them again: each tool fails with one line, the previous files are
  /// intact and no temporary file is left.
  @Test func aFullFileSystemGivesOneLineErrorsAndKeepsThePreviousFiles() throws {
    let w = try ToolWorkspace("full-disk")
    let mountPoint = w.root.appendingPathComponent("tmpfs")
    try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
    let mount = try ToolProcess.runSystem("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint.path])
    guard mount.status == 0 else { try Test.cancel("a tmpfs cannot be mounted here (\(mount.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))") }
    defer { _ = try? ToolProcess.runSystem("/bin/umount", [mountPoint.path]) }

    let checkpoints = mountPoint.appendingPathComponent("checkpoints")
    let run = checkpoints.appendingPathComponent("disk")
    let train = try ToolProcess.run("train-gpt", w.trainGPT("disk", checkpoints: checkpoints, maxSteps: 20) + ["--stop-after", "2"], log: w.log("t1"))
    #expect(train.status == 0, "\(train.stderr)")
    let attributions = mountPoint.appendingPathComponent("attr.safetensors")
    try w.attributions(attributions)
    let out = mountPoint.appendingPathComponent("sweep")
    let sweep = try ToolProcess.run("ablate", w.ablate(out: out, attributions: attributions, points: 2), log: w.log("a1"))
    #expect(sweep.status == 0, "\(sweep.stderr)")
    let kept = [run.appendingPathComponent("model.safetensors"), run.appendingPathComponent("model.json"),
                run.appendingPathComponent("resume/model.safetensors"), run.appendingPathComponent("resume/state.json"), attributions]
      + Self.names(out).map { out.appendingPathComponent($0) }
    let before = try kept.map { try Data(contentsOf: $0) }

    func fill() throws {
      let filler = mountPoint.appendingPathComponent("filler")
      try? FileManager.default.removeItem(at: filler)
      let fd = open(filler.path, O_WRONLY | O_CREAT, 0o644)
      let page = [UInt8](repeating: 1, count: 4096)
      var size = 0
      while write(fd, page, page.count) == page.count { size += page.count }
      #expect(ftruncate(fd, off_t(size - 4096)) == 0)  // one page left: the next lock file's
      close(fd)
    }
    func expectIntact(_ label: String, _ end: ToolProcess.Ending) {
      #expect(end.status == 1 && !end.signaled, "\(label): status \(end.status)")
      // Progress lines may precede it; the error is the last line, and the only one.
      #expect(end.lines.filter { $0.hasPrefix("Error: ") }.count == 1, "\(label): \(end.stderr)")
      #expect(end.lines.last?.hasPrefix("Error: cannot write ") == true && end.lines.last?.hasSuffix("(No space left on device); the previous file is intact") == true,
              "\(label): \(end.stderr)")
      #expect((try? kept.map { try Data(contentsOf: $0) }) == before, "\(label) changed a previous file")
      for dir in [run, run.appendingPathComponent("resume"), mountPoint, out] {
        #expect(!Self.names(dir).contains { $0.contains(".tmp-") || $0 == "resume.partial" || $0.hasSuffix(".lock") }, "\(label): \(Self.names(dir))")
      }
    }
    try fill()
    let t2 = try ToolProcess.run("train-gpt", w.trainGPT("disk", checkpoints: checkpoints, maxSteps: 20) + ["--resume", "--log-interval", "100"], log: w.log("t2"))
    expectIntact("train-gpt", t2)
    try fill()
    let a2 = try ToolProcess.run("attribute", ["--checkpoint", w.tiny.path, "--data-dir", w.tinyData.path, "--steps", "2", "--batches", "2",
                                               "--batch-size", "3", "--output", attributions.path], log: w.log("a2"))
    expectIntact("attribute", a2)
    try fill()
    let s2 = try ToolProcess.run("ablate", w.ablate(out: out, attributions: attributions, points: 2), log: w.log("s2"))
    expectIntact("ablate", s2)
  }

  // MARK: non-finite evaluation

  @Test func evaluateNamesTheSAEWhoseMetricsAreNotFinite() throws {
    let w = try ToolWorkspace("evaluate-nan")
    // A checkpoint whose SAE 1_act decodes to NaN, written by hand (the writers refuse it).
    let file = w.tiny.appendingPathComponent("sae.1.safetensors")
    var sae = try SafeTensors.read(contentsOf: file)
    sae.tensors["W_dec"] = Tensor(shape: sae.tensors["W_dec"]!.shape, repeating: .nan)
    try SafeTensors.encode(sae).write(to: file)
    let r = try ToolProcess.run("evaluate", ["--checkpoint", w.tiny.path, "--data-dir", w.tinyData.path, "--batches", "1", "--batch-size", "2"], log: w.log("eval"))
    #expect(r.status == 1)
    #expect(r.lines == ["Error: evaluation of \(w.tiny.path) met a non-finite value: SAE 1_act's SAE loss is nan"])
  }
}

extension ToolProcess {
  /// Runs a system command, capturing its output.
  static func runSystem(_ path: String, _ arguments: [String]) throws -> Ending {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let err = Pipe(), out = Pipe()
    process.standardError = err
    process.standardOutput = out
    try process.run()
    let e = err.fileHandleForReading.readDataToEndOfFile(), o = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Ending(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                  stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
  }
}
