import Foundation
import Testing
import Tensor
import Autograd

/// AdamW and clipGradNorm against a PyTorch trajectory (Fixtures/adamw_golden.json, written by
/// Tests/Fixtures/make_adamw_golden.py), plus state save/restore.
@Suite struct AdamWTests {
  struct Golden: Decodable {
    struct Group: Decodable { var weight_decay: Double; var params: [String] }
    struct Param: Decodable {
      var name: String
      var shape: [Int]
      var group: Int
      var initial: [Double]
      var grads: [[Double]]
      var after_step: [[Double]]
      var final: [Double]
    }
    var lr: Double
    var betas: [Double]
    var eps: Double
    var max_norm: Double
    var steps: Int
    var groups: [Group]
    var params: [Param]
    var pre_clip_norms: [Double]
  }

  static func loadGolden() throws -> Golden {
    let url = try #require(Bundle.module.url(forResource: "adamw_golden", withExtension: "json", subdirectory: "Fixtures"))
    return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
  }

  static func tensor(_ values: [Double], _ shape: [Int]) -> Tensor {
    Tensor(shape: shape, scalars: values.map { Float($0) })
  }

  /// max |a − b| / max(1, |b|).
  static func relativeError(_ a: Tensor, _ b: [Double]) -> Double {
    zip(a.scalars, b).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
  }

  @Test func matchesPyTorchTrajectory() throws {
    let golden = try AdamWTests.loadGolden()
    #expect(golden.steps == 5 && golden.params.count == 4 && golden.pre_clip_norms.count == 5)
    #expect(golden.pre_clip_norms.contains { $0 > golden.max_norm } && golden.pre_clip_norms.contains { $0 < golden.max_norm })
    let params = golden.params.map { Variable(AdamWTests.tensor($0.initial, $0.shape), requiresGrad: true) }
    let groups = golden.groups.enumerated().map { gi, g in
      AdamW.Group(parameters: golden.params.indices.filter { golden.params[$0].group == gi }.map { params[$0] },
                  weightDecay: Float(g.weight_decay))
    }
    let opt = AdamW(groups: groups, learningRate: Float(golden.lr), beta1: Float(golden.betas[0]),
                    beta2: Float(golden.betas[1]), eps: Float(golden.eps))
    var worstParam = 0.0, worstNorm = 0.0
    for step in 0..<golden.steps {
      for (p, g) in zip(params, golden.params) { p.grad = AdamWTests.tensor(g.grads[step], g.shape) }
      let norm = clipGradNorm(params, maxNorm: Float(golden.max_norm))
      let normErr = abs(Double(norm) - golden.pre_clip_norms[step]) / golden.pre_clip_norms[step]
      worstNorm = max(worstNorm, normErr)
      #expect(normErr < 1e-6, "step \(step + 1): norm \(norm) vs \(golden.pre_clip_norms[step])")
      opt.step()
      for (p, g) in zip(params, golden.params) {
        let err = AdamWTests.relativeError(p.value, g.after_step[step])
        worstParam = max(worstParam, err)
        #expect(err < 1e-6, "step \(step + 1), \(g.name): error \(err)")
      }
    }
    for (p, g) in zip(params, golden.params) { #expect(AdamWTests.relativeError(p.value, g.final) < 1e-6, "\(g.name) final") }
    #expect(opt.stepCount == golden.steps)
    print(String(format: "max-error AdamW golden: params %.2e (relative to max(1,|p|)), pre-clip norms %.2e", worstParam, worstNorm))
  }

  @Test func singleStepByHand() {
    // Step 1 with bias correction: m̂ = g, v̂ = g², so p ← p(1 − lr·wd) − lr·g/(|g| + eps).
    let p = Variable(Tensor([1, -2]), requiresGrad: true)
    let q = Variable(Tensor([3]), requiresGrad: true)
    let frozen = Variable(Tensor([7]), requiresGrad: true)  // no gradient: untouched
    let opt = AdamW(groups: [.init(parameters: [p, frozen], weightDecay: 0.5), .init(parameters: [q], weightDecay: 0)],
                    learningRate: 0.1)
    p.grad = Tensor([0.5, -4])
    q.grad = Tensor([-2])
    opt.step()
    #expect(Ref.close(p.value.scalars, [1 * 0.95 - 0.1, -2 * 0.95 + 0.1], tol: 1e-6))
    #expect(Ref.close(q.value.scalars, [3 + 0.1], tol: 1e-6))
    #expect(frozen.value.scalars == [7])
    #expect(opt.parameters.count == 3)
  }

  @Test func stateRoundTripContinuesIdentically() throws {
    func make() -> ([Variable], AdamW) {
      let ps = [Variable(Tensor([1, 2, 3]), requiresGrad: true), Variable(Tensor([-1]), requiresGrad: true)]
      return (ps, AdamW(groups: [.init(parameters: ps, weightDecay: 0.1)], learningRate: 0.05))
    }
    func feed(_ ps: [Variable], _ k: Int) {
      ps[0].grad = Tensor([Float(k), -1, 0.5])
      ps[1].grad = Tensor([Float(k) * 0.1])
    }
    let (a, optA) = make()
    for k in 1...3 { feed(a, k); optA.step() }
    let state = optA.stateTensors()
    #expect(state["step"]?.scalar == 3 && state["m.0"]?.shape == [3] && state["v.1"]?.shape == [1])

    let (b, optB) = make()
    for (x, y) in zip(b, a) { x.assign(y.value) }
    try optB.loadState(state)
    #expect(optB.stepCount == 3)
    for k in 4...5 { feed(a, k); optA.step(); feed(b, k); optB.step() }
    for (x, y) in zip(a, b) { #expect(x.value == y.value) }

    var bad = state
    bad["m.0"] = Tensor.zeros([4])
    #expect(throws: OptimizerStateError.self) { try optB.loadState(bad) }
    bad = state
    bad["v.1"] = nil
    #expect(throws: OptimizerStateError.self) { try optB.loadState(bad) }
    bad = state
    bad["extra"] = Tensor.zeros([1])
    #expect(throws: OptimizerStateError.self) { try optB.loadState(bad) }
    bad = state
    bad["step"] = nil
    #expect(throws: OptimizerStateError.self) { try optB.loadState(bad) }
    #expect(optB.stepCount == 5)  // failed loads change nothing
  }

  @Test func clipGradNormScalesOnlyAboveTheLimit() {
    let a = Variable(Tensor([3, 0]), requiresGrad: true), b = Variable(Tensor([4]), requiresGrad: true)
    let c = Variable(Tensor([9]), requiresGrad: true)  // no gradient: ignored
    a.grad = Tensor([3, 0]); b.grad = Tensor([4])
    let norm = clipGradNorm([a, b, c], maxNorm: 1)
    #expect(norm == 5)
    #expect(Ref.close(a.grad!.scalars, [0.6, 0], tol: 1e-6) && Ref.close(b.grad!.scalars, [0.8], tol: 1e-6))
    #expect(c.grad == nil)
    a.grad = Tensor([0.3, 0]); b.grad = Tensor([0.4])
    #expect(abs(clipGradNorm([a, b], maxNorm: 1) - 0.5) < 1e-7)
    #expect(a.grad!.scalars == [0.3, 0] && b.grad!.scalars == [0.4])
  }

  @Test func clipGradNormIsAccurateForLargeTensors() {
    // 4M equal entries: a Float running sum of squares would be off by ~1e-2 relative.
    let n = 4_000_000
    let p = Variable(Tensor.zeros([n]), requiresGrad: true)
    p.grad = Tensor(shape: [n], repeating: 0.001)
    let norm = clipGradNorm([p], maxNorm: 100)
    let exact = 0.001 * Double(n).squareRoot()
    #expect(abs(Double(norm) - exact) / exact < 1e-6)
  }
}
