import Autograd
import Foundation
import GPT
import Tensor
import Testing
import TestSupport
@testable import Training

/// The GPT trainer on a tiny model and synthetic shards: the learning-rate schedule, the log formats of the
/// reference's fixture logs, evaluation cadence, the best-checkpoint rule, resume equivalence, stopping on a
/// non-finite loss, and gradient accumulation (spec section 3).
@Suite struct GPTTrainerTests {
  /// The tiny architecture every trainer here trains (the preset name in the config is only a label).
  static let architecture = GPTConfig(blockSize: 8, vocabSize: 32, nLayer: 2, nHead: 2, nEmbd: 16)

  /// A temporary workspace: synthetic shards in `data/` and a checkpoints directory.
  final class Workspace {
    let root: URL
    var data: URL { root.appendingPathComponent("data") }
    var checkpoints: URL { root.appendingPathComponent("checkpoints") }

    init() throws {
      root = FileManager.default.temporaryDirectory.appendingPathComponent("gpt-trainer-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: root.appendingPathComponent("data"), withIntermediateDirectories: true)
      // A noisy Markov chain over 32 ids, so that the loss can fall.
      var g = RandomGenerator(seed: 42)
      func tokens(_ n: Int) -> [UInt16] {
        var out: [UInt16] = [], prev = 0
        for _ in 0..<n {
          prev = (prev * 5 + 3 + g.nextInt(below: 3)) % 32
          out.append(UInt16(prev))
        }
        return out
      }
      try NPY.write(NPYArray(shape: [6000], data: .uint16(tokens(6000))), to: data.appendingPathComponent("train_000000.npy"))
      try NPY.write(NPYArray(shape: [1000], data: .uint16(tokens(1000))), to: data.appendingPathComponent("val_000000.npy"))
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func config(_ name: String = "run", maxSteps: Int = 12, evalInterval: Int = 5, logInterval: Int = 5, batchSize: Int = 8,
                accumulation: Int = 1, learningRate: Float = 1e-2, warmup: Int = 2, decay: Bool = true) -> GPTTrainingConfig {
      GPTTrainingConfig(name: name, gptConfig: "ascii_64x4", dataDir: data.path, logInterval: logInterval,
                        evalInterval: evalInterval, evalSteps: 2, batchSize: batchSize, gradientAccumulationSteps: accumulation,
                        learningRate: learningRate, warmupSteps: warmup, maxSteps: maxSteps, decayLR: decay, minLR: 1e-4)
    }

    func trainer(_ config: GPTTrainingConfig, seed: UInt64 = 1) throws -> GPTTrainer {
      try GPTTrainer(config: config, checkpointsDirectory: checkpoints,
                     model: try GPT(config: GPTTrainerTests.architecture, seed: seed), seed: seed, echo: false)
    }

    func lines(_ run: String, _ file: String) throws -> [String] {
      try String(contentsOf: checkpoints.appendingPathComponent(run).appendingPathComponent(file), encoding: .utf8)
        .split(separator: "\n").map(String.init)
    }
  }

  /// `key value | key value …` → ordered pairs.
  static func fields(_ line: String) -> [(String, String)] {
    line.components(separatedBy: " | ").map { field in
      let parts = field.split(separator: " ", maxSplits: 1)
      return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }
  }

  static func steps(_ lines: [String]) -> [Int] {
    lines.compactMap { line in fields(line).first { $0.0 == "step" }.flatMap { Int($0.1) } }
  }

  static func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

  // MARK: learning-rate schedule

  /// The spec's formula, evaluated in Double.
  static func referenceRate(_ s: Int, lr: Double, warmup: Int, max: Int, decay: Bool, minLR: Double) -> Double {
    if s <= warmup { return lr * Double(s) / Double(warmup) }
    if !decay { return lr }
    if s >= max { return minLR }
    return minLR + 0.5 * (1 + cos(Double.pi * Double(s - warmup) / Double(max - warmup))) * (lr - minLR)
  }

  @Test func scheduleMatchesTheReferenceFormulaAtBoundaries() {
    for (warmup, maxSteps, decay) in [(100, 300, true), (100, 300, false), (0, 50, true), (1, 2, true), (10, 10, false)] {
      let schedule = LearningRateSchedule(peak: 1e-3, warmupSteps: warmup, maxSteps: maxSteps, decay: decay, minimum: 1e-5)
      let steps = Set([1, 2, warmup - 1, warmup, warmup + 1, (warmup + maxSteps) / 2, maxSteps - 1, maxSteps, maxSteps + 1]).filter { $0 >= 1 }
      for s in steps.sorted() {
        let want = Self.referenceRate(s, lr: 1e-3, warmup: warmup, max: maxSteps, decay: decay, minLR: 1e-5)
        let got = schedule.rate(at: s)
        // Float32 result: within one unit in the last place of the formula's value.
        #expect(abs(got - Float(want)) <= Float(want).ulp, "warmup \(warmup) max \(maxSteps) decay \(decay) step \(s): \(got) vs \(want)")
      }
    }
    let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 100, maxSteps: 300, decay: true, minimum: 1e-5)
    #expect(s.rate(at: 100) == 1e-3 && s.rate(at: 300) == 1e-5 && s.rate(at: 301) == 1e-5)
    #expect(s.rate(at: 101) < 1e-3 && s.rate(at: 299) > 1e-5)
  }

  static let fixture = "fixtures/reference/checkpoints/fx_gpt_64x4"

  /// The reference fixture's train.log lr column (warmup 100, 300 steps, cosine to 1e-5) is our schedule as
  /// the log prints it.
  @Test(SharedData.needs(fixture))
  func scheduleReproducesTheFixtureLogRates() throws {
    let log = try String(contentsOf: try SharedData.require("\(Self.fixture)/train.log"), encoding: .utf8)
    let schedule = LearningRateSchedule(peak: 1e-3, warmupSteps: 100, maxSteps: 300, decay: true, minimum: 1e-5)
    var checked = 0
    for line in log.split(separator: "\n") {
      let f = Dictionary(uniqueKeysWithValues: Self.fields(String(line)))
      let step = try #require(Int(f["step"] ?? ""))
      #expect(LogLine.learningRate(schedule.rate(at: step)).rendered == f["lr"], "step \(step)")
      checked += 1
    }
    #expect(checked == 30)
  }

  // MARK: log formats

  /// Value formats of the reference's log keys.
  static let formats: [String: String] = [
    "type": "^(train|eval)$", "step": "^[0-9]+$", "loss": "^[0-9]+\\.[0-9]{4}$", "norm": "^[0-9]+\\.[0-9]{4}$",
    "lr": "^[0-9]\\.[0-9]e-[0-9]{2}$", "dt": "^[0-9]+\\.[0-9]{3}$", "checkpoint": "^(True|False)$",
  ]

  static func checkFormats(_ lines: [String], keys: [String], label: String) {
    for line in lines {
      let f = fields(line)
      #expect(f.map(\.0) == keys, "\(label): keys of '\(line)'")
      for (key, value) in f {
        let pattern = formats[key] ?? "^$"
        #expect(value.range(of: pattern, options: .regularExpression) != nil, "\(label): \(key) '\(value)' in '\(line)'")
      }
    }
  }

  @Test(SharedData.needs(fixture))
  func logLinesMatchTheReferenceFormat() throws {
    let reference = try SharedData.require(Self.fixture)
    func referenceLines(_ file: String) throws -> [String] {
      try String(contentsOf: reference.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").map(String.init)
    }
    let refTrain = try referenceLines("train.log"), refEval = try referenceLines("eval.log")
    let trainKeys = Self.fields(refTrain[0]).map(\.0), evalKeys = Self.fields(refEval[0]).map(\.0)
    #expect(trainKeys == ["type", "step", "loss", "lr", "norm", "dt"] && evalKeys == ["type", "step", "loss", "checkpoint"])
    // The patterns describe the reference's own lines…
    Self.checkFormats(refTrain, keys: trainKeys, label: "reference train.log")
    Self.checkFormats(refEval, keys: evalKeys, label: "reference eval.log")

    // …and ours.
    let w = try Workspace()
    try w.trainer(w.config(maxSteps: 20, evalInterval: 10, logInterval: 10)).train()
    let ours = try w.lines("run", "train.log"), oursEval = try w.lines("run", "eval.log")
    #expect(ours.count == 2 && oursEval.count == 3)
    Self.checkFormats(ours, keys: trainKeys, label: "train.log")
    Self.checkFormats(oursEval, keys: evalKeys, label: "eval.log")

    // debug.log: the reference's keys in its order, then our additions; the same values for the same config.
    let refDebug = Self.fields(try referenceLines("debug.log")[0])
    let config = GPTTrainingConfig(name: "fx_gpt_64x4", gptConfig: "ascii_64x4", dataDir: w.data.path, logInterval: 10,
                                   evalInterval: 200, evalSteps: 10, batchSize: 128, learningRate: 1e-3, warmupSteps: 100,
                                   maxSteps: 300, decayLR: true, minLR: 1e-5, weightDecay: 0.1, gradClip: 1.0)
    let trainer = try GPTTrainer(config: config, checkpointsDirectory: w.checkpoints,
                                 model: try GPT(config: try #require(GPTConfig.preset("ascii_64x4"))), seed: 99, echo: false)
    let debug = Self.fields(trainer.debugLine())
    #expect(Array(debug.map(\.0).prefix(refDebug.count)) == refDebug.map(\.0))
    for ((key, ref), (_, mine)) in zip(refDebug, debug) where key != "data_dir" {
      if key == "gpt_config" {
        #expect(mine.hasPrefix("{'name': 'ascii_64x4'") && mine.contains("'n_embd': 64"), "gpt_config \(mine)")
      } else {
        #expect(mine == ref, "debug.log \(key): '\(mine)' vs the reference's '\(ref)'")
      }
    }
  }

  // MARK: evaluation cadence and checkpoints

  @Test func evaluationCadence() throws {
    let w = try Workspace()
    try w.trainer(w.config("a", maxSteps: 23, evalInterval: 10, logInterval: 5)).train()
    #expect(Self.steps(try w.lines("a", "eval.log")) == [0, 10, 20, 23])
    #expect(Self.steps(try w.lines("a", "train.log")) == [5, 10, 15, 20])
    // An evaluation interval beyond the run is legal: step 0 and the last step.
    try w.trainer(w.config("b", maxSteps: 7, evalInterval: 100, logInterval: 3)).train()
    #expect(Self.steps(try w.lines("b", "eval.log")) == [0, 7])
    #expect(Self.steps(try w.lines("b", "train.log")) == [3, 6])
  }

  @Test func bestCheckpointRule() throws {
    let w = try Workspace()
    let trainer = try w.trainer(w.config())
    let checkpoint = trainer.runDirectory.appendingPathComponent("model.safetensors")
    let original = trainer.model.parameters.map(\.value)
    var g = RandomGenerator(seed: 5)
    let noise = trainer.model.parameters.map { Tensor.normal($0.shape, generator: &g) }
    func setWeights(noiseScale: Float) {
      for (p, (v, n)) in zip(trainer.model.parameters, zip(original, noise)) { p.assign(v + n * noiseScale) }
    }
    func evaluate(_ step: Int) throws -> (loss: String, saved: Bool, written: Bool) {
      try? FileManager.default.removeItem(at: checkpoint)
      let f = try trainer.evaluate(step: step).map { ($0.0, $0.1.rendered) }
      #expect(f.map(\.0) == ["loss", "checkpoint"])
      return (f[0].1, f[1].1 == "True", FileManager.default.fileExists(atPath: checkpoint.path))
    }
    // Step 0 never saves, even with the best loss of the run.
    let s0 = try evaluate(0)
    #expect(!s0.saved && !s0.written)
    setWeights(noiseScale: 0.5)
    let s1 = try evaluate(1)
    try #require(Float(s1.loss)! > Float(s0.loss)!)
    #expect(s1.saved && s1.written, "the first evaluation after step 0 saves")
    let s2 = try evaluate(2)
    #expect(s2.loss == s1.loss && s2.saved && s2.written, "an equal loss saves (≤ best)")
    setWeights(noiseScale: 2)
    let s3 = try evaluate(3)
    try #require(Float(s3.loss)! > Float(s1.loss)!)
    #expect(!s3.saved && !s3.written, "a worse loss does not save")
    setWeights(noiseScale: 0)
    let s4 = try evaluate(4)
    #expect(s4.saved && s4.written)
    let saved = try GPTCheckpoint.load(from: trainer.runDirectory)
    #expect(zip(saved.parameters, original).allSatisfy { Self.bits($0.value) == Self.bits($1) })
  }

  // MARK: resume

  /// N steps, an interruption (`stopAfter`), N resumed steps: bit-identical weights, optimizer state, logs and
  /// checkpoint to 2N uninterrupted steps. N = 6 stops between evaluations, N = 5 at one.
  @Test(arguments: [6, 5])
  func resumeIsEquivalentToAnUninterruptedRun(_ n: Int) throws {
    let w = try Workspace()
    let first = try w.trainer(w.config("resumed", maxSteps: 2 * n))
    #expect(try first.train(stopAfter: n) == n)
    #expect(ResumeStore(runDirectory: first.runDirectory).exists)
    // A different initialisation: everything must come from the resume state.
    let resumed = try w.trainer(w.config("resumed", maxSteps: 2 * n), seed: 77)
    #expect(try resumed.train(resume: true) == 2 * n)
    let straight = try w.trainer(w.config("straight", maxSteps: 2 * n))
    #expect(try straight.train() == 2 * n)

    for ((name, a), (_, b)) in zip(resumed.model.namedParameters, straight.model.namedParameters) {
      #expect(Self.bits(a.value) == Self.bits(b.value), "N = \(n): \(name)")
    }
    let sa = resumed.optimizer.stateTensors(), sb = straight.optimizer.stateTensors()
    #expect(sa.keys.sorted() == sb.keys.sorted())
    for (key, value) in sb { #expect(sa[key].map(Self.bits) == Self.bits(value), "N = \(n): optimizer \(key)") }
    #expect(resumed.bestValLoss == straight.bestValLoss)
    #expect(try w.lines("resumed", "eval.log") == (try w.lines("straight", "eval.log")))
    let noDT = { (lines: [String]) in lines.map { $0.components(separatedBy: " | dt ")[0] } }
    #expect(noDT(try w.lines("resumed", "train.log")) == noDT(try w.lines("straight", "train.log")))
    let ckA = try Data(contentsOf: resumed.runDirectory.appendingPathComponent("model.safetensors"))
    let ckB = try Data(contentsOf: straight.runDirectory.appendingPathComponent("model.safetensors"))
    #expect(ckA == ckB)
    // A finished run refuses to resume with one line.
    let message = try #require(Self.errorMessage { _ = try w.trainer(w.config("resumed", maxSteps: 2 * n)).train(resume: true) })
    #expect(!message.contains("\n") && message.contains("completed"))
  }

  static func errorMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
  }

  // MARK: failure

  @Test func nonFiniteLossStopsAndKeepsTheLastCheckpoint() throws {
    let w = try Workspace()
    let healthy = try w.trainer(w.config("run", maxSteps: 20, evalInterval: 2, learningRate: 1e-3))
    try healthy.train(stopAfter: 4)
    let files = ["model.safetensors", "model.json"].map { healthy.runDirectory.appendingPathComponent($0) }
    let before = try files.map { try Data(contentsOf: $0) }
    // Continue the same run with a learning rate that blows the weights up.
    let exploding = try w.trainer(w.config("run", maxSteps: 20, evalInterval: 2, learningRate: 1e30, warmup: 0, decay: false))
    var thrown: Error?
    do { try exploding.train(resume: true) } catch { thrown = error }
    let error = try #require(thrown, "training with lr 1e30 did not stop")
    #expect(error is TrainingError)
    let message = "\(error)"
    #expect(!message.contains("\n") && message.contains("step") && (message.contains("nan") || message.contains("inf")), "\(message)")
    #expect(try files.map { try Data(contentsOf: $0) } == before, "the last checkpoint changed")
    _ = try GPTCheckpoint.load(from: healthy.runDirectory)

    // NaN weights from the start: the evaluation at step 0 stops the run, naming the parameter, without
    // writing a checkpoint.
    let poisoned = try w.trainer(w.config("nan", maxSteps: 5))
    poisoned.model.wpe.weight.updateValue { $0.unsafeMutablePointer()[3] = .nan }
    let nanMessage = try #require(Self.errorMessage { try poisoned.train() })
    #expect(!nanMessage.contains("\n") && nanMessage.contains("after step 0 (first non-finite: parameter transformer.wpe.weight)"), "\(nanMessage)")
    #expect(!FileManager.default.fileExists(atPath: poisoned.runDirectory.appendingPathComponent("model.safetensors").path))
  }

  // MARK: gradient accumulation

  /// Two micro-batches of B give the gradients (and loss and norm) of one batch of 2B: the loader's windows
  /// of 2B rows are exactly the two consecutive windows of B rows.
  @Test func gradientAccumulationMatchesOneLargerBatch() throws {
    let w = try Workspace()
    let accumulated = try w.trainer(w.config("acc", batchSize: 4, accumulation: 2))
    let single = try w.trainer(w.config("single", batchSize: 8, accumulation: 1))
    // Learning rate 0 keeps the weights equal (AdamW with lr 0 changes nothing), so each step compares
    // gradients at the same point, on the next windows of data. (After a real step they would drift apart:
    // AdamW's first update is ±lr even for gradients that are zero up to rounding, like the key biases'.)
    for step in 1...3 {
      let a = try accumulated.trainStep(step: step, learningRate: 0)
      let b = try single.trainStep(step: step, learningRate: 0)
      #expect(abs(a.losses[0] - b.losses[0]) <= 1e-5 * b.losses[0], "step \(step): loss \(a.losses[0]) vs \(b.losses[0])")
      #expect(abs(a.gradNorm - b.gradNorm) <= 1e-5 * b.gradNorm, "step \(step): norm \(a.gradNorm) vs \(b.gradNorm)")
      var worst: Float = 0
      for ((name, pa), (_, pb)) in zip(accumulated.model.namedParameters, single.model.namedParameters) {
        let ga = try #require(pa.grad), gb = try #require(pb.grad)
        let scale = max(gb.scalars.map(abs).max() ?? 0, 1e-6)
        worst = max(worst, ga.maxAbsDifference(gb) / scale)
        #expect(ga.maxAbsDifference(gb) <= 1e-4 * scale, "step \(step) \(name)")
      }
      print(String(format: "gradient accumulation step %d: max |Δ grad| / max |grad| %.1e", step, worst))
    }
    #expect(zip(accumulated.model.parameters, single.model.parameters).allSatisfy { $0.value == $1.value })
  }
}
