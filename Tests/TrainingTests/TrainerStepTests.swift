import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

/// What every trainer's optimisation step does with its settings: gradient accumulation over micro-batches
/// (spec sections 3 and 8: each micro-batch's loss divided by their count) and the learning rate applied at
/// each step (the warmup/cosine schedule of spec section 3, evaluated at the step being run), checked against
/// the optimizer's rate and the train log's `lr` column.
@Suite(.serialized) struct TrainerStepTests {
  enum Kind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case topK, staircase, jsae, endToEnd, regularization
    var testDescription: String { rawValue }
  }

  static func config(_ w: SAETrainingWorkspace, _ kind: Kind, name: String, batchSize: Int = 1, accumulation: Int = 1,
                     maxSteps: Int = 6) -> SAETrainingConfig {
    var c: SAETrainingConfig
    switch kind {
    case .topK: c = w.config(TestSAEModels.topK, name: name, maxSteps: maxSteps)
    case .staircase: c = w.config(TestSAEModels.staircase, name: name, maxSteps: maxSteps)
    case .jsae: c = w.config(TestSAEModels.jsae, name: name, maxSteps: maxSteps, sparsity: [0.01, 0.01, 0.01, 0.01])
    case .endToEnd:
      c = w.config(TestDenseSAEModels.standard, name: name, maxSteps: maxSteps, sparsity: [0.05, 0.05, 0.05, 0.05, 0.05])
      c.trainer = .endToEnd
      c.lossCoefficients.downstream = 0.7
    case .regularization:
      c = w.config(TestDenseSAEModels.standard, name: name, maxSteps: maxSteps, sparsity: [0.02, 0.035, 0.085, 0.07, 0.075])
      c.trainer = .regularization
      c.lossCoefficients.regularization = 3
    }
    c.batchSize = batchSize
    c.gradientAccumulationSteps = accumulation
    return c
  }

  static func trainer(_ w: SAETrainingWorkspace, _ c: SAETrainingConfig) throws -> SAETrainer {
    try SAETrainer.make(config: c, loadFrom: w.gptDirectory, checkpointsDirectory: w.checkpoints, seed: 3, echo: false)
  }

  /// The gradients of the trained parameters before the step's clip (undone with the returned norm).
  static func unclippedGradients(_ t: SAETrainer, norm: Float) throws -> [Tensor] {
    let coef = SAETrainingConfig.gradClip / (norm + 1e-6)
    return try t.parameters.map { p in
      let g = try #require(p.grad)
      return coef < 1 ? g.scaled(1 / coef) : g
    }
  }

  static func compare(_ a: [Tensor], _ b: [Tensor], _ label: String) -> Float {
    var worst: Float = 0
    for (i, (ga, gb)) in zip(a, b).enumerated() {
      let scale = max(gb.unary(.abs).max(), 1e-6)
      worst = max(worst, ga.maxAbsDifference(gb) / scale)
      #expect(ga.maxAbsDifference(gb) <= 2e-4 * scale, "\(label): parameter \(i) differs by \(ga.maxAbsDifference(gb)) (scale \(scale))")
    }
    return worst
  }

  /// Two micro-batches give the mean of the two micro-batches' gradients and losses (for every trainer); and,
  /// where the loss is a mean over tokens, the gradients, losses and norm of one batch of twice the size. The
  /// loader's windows of 2 rows are exactly two consecutive windows of 1 row. Learning rate 0 keeps the
  /// weights equal, so every step compares gradients at the same point.
  @Test(arguments: Kind.allCases)
  func accumulatedMicroBatchesAverageTheirGradients(_ kind: Kind) throws {
    let w = try SAETrainingWorkspace()
    let accumulated = try Self.trainer(w, Self.config(w, kind, name: "acc", accumulation: 2))
    let single = try Self.trainer(w, Self.config(w, kind, name: "one"))
    // JSAE's Jacobian term sums over the batch's tokens and the regularization trainer divides by the batch's
    // mean input norm, so only the loss of the other trainers is a mean over tokens.
    let meanLoss = kind != .jsae && kind != .regularization
    let double = meanLoss ? try Self.trainer(w, Self.config(w, kind, name: "double", batchSize: 2)) : nil
    for step in 1...2 {
      let a = try accumulated.trainStep(step: step, learningRate: 0)
      let ga = try Self.unclippedGradients(accumulated, norm: a.gradNorm)
      let s1 = try single.trainStep(step: 2 * step - 1, learningRate: 0)
      let g1 = try Self.unclippedGradients(single, norm: s1.gradNorm)
      let s2 = try single.trainStep(step: 2 * step, learningRate: 0)
      let g2 = try Self.unclippedGradients(single, norm: s2.gradNorm)
      let mean = zip(g1, g2).map { ($0 + $1).scaled(0.5) }
      let worst = Self.compare(ga, mean, "\(kind) step \(step) vs the micro-batches' mean")
      for (e, loss) in a.losses.enumerated() {
        let expected = (s1.losses[e] + s2.losses[e]) / 2
        #expect(abs(loss - expected) <= 1e-5 * max(1, abs(expected)), "\(kind) step \(step) entry \(e): loss \(loss) vs \(expected)")
      }
      // The two micro-batches differ, so the test would see a missing or doubled half.
      #expect(zip(g1, g2).contains { $0.maxAbsDifference($1) > 1e-3 * max($1.unary(.abs).max(), 1e-6) })
      if let double {
        let b = try double.trainStep(step: step, learningRate: 0)
        let gb = try Self.unclippedGradients(double, norm: b.gradNorm)
        _ = Self.compare(ga, gb, "\(kind) step \(step) vs one batch of 2")
        #expect(abs(a.gradNorm - b.gradNorm) <= 1e-4 * b.gradNorm, "\(kind) step \(step): norm \(a.gradNorm) vs \(b.gradNorm)")
        for (e, loss) in a.losses.enumerated() {
          #expect(abs(loss - b.losses[e]) <= 1e-5 * max(1, abs(b.losses[e])), "\(kind) step \(step) entry \(e)")
        }
      }
      print(String(format: "%@ accumulation step %d: max |Δ grad| / max |grad| %.1e", kind.rawValue, step, worst))
    }
    #expect(zip(accumulated.parameters, single.parameters).allSatisfy { $0.value == $1.value })
  }

  /// Every trainer clips the global gradient norm over all its trained parameters to 1.0 (spec section 8):
  /// after a step whose pre-clip norm exceeds 1 the gradients left on the parameters have norm 1, otherwise
  /// they keep the reported norm.
  @Test(arguments: Kind.allCases)
  func gradientsAreClippedToAGlobalNormOfOne(_ kind: Kind) throws {
    let w = try SAETrainingWorkspace()
    let t = try Self.trainer(w, Self.config(w, kind, name: "clip"))
    // Shifted decoder biases make the reconstruction error, and so the gradient, large enough to clip.
    for (name, p) in t.model.namedParameters where name.hasSuffix("b_dec") {
      p.assign(p.value + Tensor(shape: p.shape, repeating: 3))
    }
    var clipped = 0
    for step in 1...3 {
      let r = try t.trainStep(step: step, learningRate: 0)
      var total = 0.0
      for p in t.parameters { if let g = p.grad { total += g.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } } }
      let after = total.squareRoot()
      if r.gradNorm > 1 {
        clipped += 1
        #expect(abs(after - 1) <= 1e-4, "\(kind) step \(step): norm \(after) after clipping \(r.gradNorm)")
      } else {
        #expect(abs(after - Double(r.gradNorm)) <= 1e-5 * Double(r.gradNorm), "\(kind) step \(step)")
      }
    }
    #expect(clipped > 0, "\(kind): no step needed clipping, so a missing clip would go unseen")
  }

  // MARK: Learning rate per step

  /// The spec's schedule (section 3) in Double: warmup lr·s/warmup, then cosine to min_lr (min_lr from max).
  static func specRate(_ s: Int, lr: Double, warmup: Int, max: Int, minLR: Double) -> Double {
    if s <= warmup { return lr * Double(s) / Double(warmup) }
    if s >= max { return minLR }
    return minLR + 0.5 * (1 + cos(Double.pi * Double(s - warmup) / Double(max - warmup))) * (lr - minLR)
  }

  /// Runs `trainer` step by step, checking after each step the rate its optimizer applied, then the `lr`
  /// column of every train-log line; the rates of neighbouring steps differ by far more than the log's two
  /// digits round away (at least 14%).
  static func checkRates(_ trainer: some ResumableTrainer, optimizer: () -> Float, lr: Double, warmup: Int, maxSteps: Int,
                         minLR: Double, log: URL, label: String) throws {
    let run = try trainer.prepareRun(resume: false, stopAfter: nil, milestones: [])
    try run.start()
    var applied: [Int: Float] = [:]
    while !run.isDone {
      try run.advance()
      applied[run.step] = optimizer()
    }
    #expect(applied.keys.sorted() == Array(1...maxSteps), "\(label): steps \(applied.keys.sorted())")
    for s in 1...maxSteps {
      let expected = specRate(s, lr: lr, warmup: warmup, max: maxSteps, minLR: minLR)
      let got = Double(applied[s] ?? .nan)
      #expect(abs(got - expected) <= 1e-6 * expected, "\(label) step \(s): applied lr \(got), schedule \(expected)")
    }
    let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
    var logged: [Int: Double] = [:]
    for line in lines {
      let fields = Dictionary(uniqueKeysWithValues: GPTTrainerTests.fields(line))
      if let step = fields["step"].flatMap(Int.init), let rate = fields["lr"].flatMap(Double.init) { logged[step] = rate }
    }
    #expect(logged.keys.sorted() == Array(1...maxSteps), "\(label): train.log steps \(logged.keys.sorted())")
    for (s, rate) in logged {
      let expected = specRate(s, lr: lr, warmup: warmup, max: maxSteps, minLR: minLR)
      #expect(abs(rate - expected) <= 0.051 * expected, "\(label) train.log step \(s): lr \(rate), schedule \(expected)")
    }
  }

  /// Warmup 4 then cosine over steps 5…8: rates 2.5e-3, 5.0e-3, 7.5e-3, 1.0e-2, 8.55e-3, 5.05e-3, 1.55e-3, 1.0e-4.
  static let lr = 1e-2, minLR = 1e-4, warmup = 4, maxSteps = 8

  @Test(arguments: Kind.allCases)
  func saeTrainerAppliesTheScheduledRateOfEachStep(_ kind: Kind) throws {
    let w = try SAETrainingWorkspace()
    var c = Self.config(w, kind, name: "rates", maxSteps: Self.maxSteps)
    c.learningRate = Float(Self.lr)
    c.minLR = Float(Self.minLR)
    c.warmupSteps = Self.warmup
    c.logInterval = 1
    c.evalInterval = 4
    let t = try Self.trainer(w, c)
    try Self.checkRates(t, optimizer: { t.optimizer.learningRate }, lr: Self.lr, warmup: Self.warmup, maxSteps: Self.maxSteps,
                        minLR: Self.minLR, log: t.runDirectory.appendingPathComponent("train.log"), label: kind.rawValue)
  }

  @Test func gptTrainerAppliesTheScheduledRateOfEachStep() throws {
    let w = try GPTTrainerTests.Workspace()
    let c = w.config("rates", maxSteps: Self.maxSteps, evalInterval: 4, logInterval: 1, learningRate: Float(Self.lr),
                     warmup: Self.warmup, decay: true)
    let t = try w.trainer(c)
    // The GPT workspace's min_lr.
    let minLR = Double(c.minLR)
    try Self.checkRates(t, optimizer: { t.optimizer.learningRate }, lr: Self.lr, warmup: Self.warmup, maxSteps: Self.maxSteps,
                        minLR: minLR, log: w.checkpoints.appendingPathComponent("rates/train.log"), label: "gpt")
  }
}
