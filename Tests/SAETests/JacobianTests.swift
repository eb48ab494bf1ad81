import Foundation
import Testing
import Autograd
import GPT
import Tensor
@testable import SAE

/// The Jacobian sparsity term of JSAE pairs (spec section 8): per-token Jacobians of the sparse kernel
/// against autograd through the real maps (decode → MLP or FF block → encoder pre-activation) and against
/// the dense double-precision reference; the gradients of J_total with respect to W_dec_in and W_enc_out
/// against central differences of that reference; the exact LayerNorm and DynamicTanh Jacobians against
/// autograd.
@Suite struct JacobianTests {
  // MARK: fixtures

  static let c = 8, f = 16, k = 3, tokens = 5

  /// A tiny GPT block with weights large enough that gelu′ and the norm vary across tokens, two TopK SAEs,
  /// sparse input features, and the clean activation they decode to.
  ///
  /// Why this is a true check of the formula: J uses gelu′ (and ln_2's Jacobian) at the *clean* activations,
  /// held constant, while autograd differentiates the real map at the point where it is evaluated. The
  /// fixture therefore defines the clean input as x_t = decode_in(f_t), where f_t is a sparse feature vector
  /// supported exactly on the token's `in` indices. Autograd differentiates decode → map → encoder
  /// pre-activation at f_t, i.e. with every derivative of the GPT taken at h(decode(f_t)) = the clean h,
  /// which is exactly the point the kernel's constants describe — so agreement checks the whole analytic
  /// formula (including the exact LayerNorm Jacobian), not the kernel against itself. The output side is
  /// the encoder pre-activation (x − b_dec)·W_enc + b_enc, affine in x, so its derivative does not depend on
  /// where the output features are chosen; `out` is an arbitrary set of k distinct features.
  struct Fixture {
    let block: Block
    let inSAE: TopKSAE
    let outSAE: TopKSAE
    /// Whether the pair brackets the FF block (else the FF layer).
    let ffBlock: Bool
    /// Sparse input features f_t, [N, F].
    let features: Tensor
    /// decode_in(f_t), [N, C]: the clean MLP input (FF layer) or resid_mid (FF block).
    let clean: Tensor
    let inIndices: IntTensor
    let outIndices: IntTensor

    init(ffBlock: Bool, norm: NormStrategy = .layerNorm, tokens n: Int = JacobianTests.tokens, seed: UInt64) throws {
      let c = JacobianTests.c, f = JacobianTests.f, k = JacobianTests.k
      var g = RandomGenerator(seed: seed)
      let gpt = try GPT(config: GPTConfig(blockSize: 8, vocabSize: 8, nLayer: 1, nHead: 2, nEmbd: c, normStrategy: norm,
                                          alphaMLP: 0.8), seed: seed)
      block = gpt.blocks[0]
      func randomize(_ v: Variable, mean: Float = 0, std: Float) {
        v.assign(Tensor.normal(v.shape, mean: mean, std: std, generator: &g))
      }
      randomize(block.mlp.cFc.weight, std: 0.5)
      randomize(block.mlp.cFc.bias!, std: 0.5)
      randomize(block.mlp.cProj.weight, std: 0.3)
      randomize(block.mlp.cProj.bias!, std: 0.3)
      switch block.ln2 {
      case let ln as LayerNorm:
        randomize(ln.weight, mean: 1, std: 0.3)
        randomize(ln.bias, std: 0.2)
      case let dyt as DynamicTanh:
        randomize(dyt.gamma, mean: 1, std: 0.3)
        randomize(dyt.beta, std: 0.2)
      default:
        break
      }
      self.ffBlock = ffBlock
      let (inPoint, outPoint): (HookPoint, HookPoint) = ffBlock ? (.residmid, .residpost) : (.mlpin, .mlpout)
      let inSAE = TopKSAE(key: SAEKey(layer: 0, hookPoint: inPoint), featureCount: f, embeddingSize: c, k: k, generator: &g)
      let outSAE = TopKSAE(key: SAEKey(layer: 0, hookPoint: outPoint), featureCount: f, embeddingSize: c, k: k, generator: &g)
      self.inSAE = inSAE
      self.outSAE = outSAE
      for sae in [inSAE, outSAE] {
        randomize(sae.bDec, std: 0.3)
        randomize(sae.bEnc, std: 0.3)
      }
      var feats = Tensor(zeros: [n, f])
      var ins: [Int32] = [], outs: [Int32] = []
      for t in 0..<n {
        let chosenIn = Array((0..<f).shuffled(using: &g).prefix(k))
        for i in chosenIn {
          feats[t, i] = 0.5 + g.nextUniform()
          ins.append(Int32(i))
        }
        outs += (0..<f).shuffled(using: &g).prefix(k).map(Int32.init)
      }
      features = feats
      inIndices = IntTensor(shape: [n, k], scalars: ins)
      outIndices = IntTensor(shape: [n, k], scalars: outs)
      clean = withNoGrad { inSAE.decode(Variable(feats)).value }
    }

    var n: Int { features.shape[0] }

    /// The map from the input activation to the output activation.
    func map(_ x: Variable) -> Variable {
      ffBlock ? x + block.mlp(block.ln2(x)) : block.mlp(x)
    }

    /// J_t from autograd through decode → map → encoder pre-activation, [k_out, k_in] per token.
    func autogradJacobians() -> [Float] {
      let k = JacobianTests.k, f = JacobianTests.f
      var out: [Float] = []
      for t in 0..<n {
        let ft = Variable(features.slice(axis: 0, t..<(t + 1)), requiresGrad: true)
        let pre = outSAE.ablationPreActivation(map(inSAE.decode(ft)))   // [1, F_out]
        for a in 0..<k {
          ft.zeroGrad()
          var seed = Tensor(zeros: [1, f])
          seed[0, Int(outIndices[t, a])] = 1
          pre.backward(gradient: seed, retainGraph: true)
          for b in 0..<k { out.append(ft.grad![0, Int(inIndices[t, b])]) }
        }
      }
      return out
    }

    func fastJacobians() -> Tensor {
      ffBlock
        ? JacobianSparsity.ffBlockJacobians(inSAE: inSAE, outSAE: outSAE, block: block, cleanResidMid: clean,
                                            inIndices: inIndices, outIndices: outIndices)
        : JacobianSparsity.ffLayerJacobians(inSAE: inSAE, outSAE: outSAE, mlp: block.mlp, cleanMLPInput: clean,
                                            inIndices: inIndices, outIndices: outIndices)
    }

    func term() -> Variable {
      ffBlock
        ? JacobianSparsity.ffBlock(inSAE: inSAE, outSAE: outSAE, block: block, cleanResidMid: clean,
                                   inIndices: inIndices, outIndices: outIndices)
        : JacobianSparsity.ffLayer(inSAE: inSAE, outSAE: outSAE, mlp: block.mlp, cleanMLPInput: clean,
                                   inIndices: inIndices, outIndices: outIndices)
    }

    func reference() -> JacobianReference {
      ffBlock
        ? JacobianReference.ffBlock(inSAE: inSAE, outSAE: outSAE, block: block, cleanResidMid: clean,
                                    inIndices: inIndices, outIndices: outIndices)
        : JacobianReference.ffLayer(inSAE: inSAE, outSAE: outSAE, mlp: block.mlp, cleanMLPInput: clean,
                                    inIndices: inIndices, outIndices: outIndices)
    }
  }

  /// max |a − b| ≤ tol · max(1, max |b|).
  static func expectClose(_ a: [Float], _ b: [Float], tol: Float, _ what: String) {
    #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values")
    let scale = Swift.max(1, b.map { Swift.abs($0) }.max() ?? 0)
    let err = zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
    #expect(err <= tol * scale, "\(what): max error \(err) (scale \(scale))")
  }

  static let cases: [(Bool, NormStrategy)] = [(false, .layerNorm), (true, .layerNorm), (true, .dynamicTanh), (true, .identity)]

  // MARK: per-token Jacobians

  @Test(arguments: 0..<4)
  func jacobiansMatchAutogradAndReference(_ caseIndex: Int) throws {
    let (ffBlock, norm) = Self.cases[caseIndex]
    let fx = try Fixture(ffBlock: ffBlock, norm: norm, seed: 11 + UInt64(caseIndex))
    let auto = fx.autogradJacobians()
    let fast = fx.fastJacobians()
    #expect(fast.shape == [fx.n, Self.k, Self.k])
    let reference = fx.reference().jacobians().map(Float.init)
    let label = "\(ffBlock ? "FF block" : "FF layer") \(norm.rawValue)"
    Self.expectClose(fast.scalars, auto, tol: 2e-5, "\(label): kernel vs autograd")
    Self.expectClose(reference, auto, tol: 2e-5, "\(label): reference vs autograd")
    // Not a vacuous comparison: the entries are O(1) and vary.
    let magnitudes = auto.map { Swift.abs($0) }
    #expect(magnitudes.max()! > 0.1 && magnitudes.min()! < magnitudes.max()! * 0.9, "\(label): degenerate Jacobians \(auto)")
  }

  /// gelu′ at the clean h matters: evaluating the same formula at another hidden state changes J, and the
  /// caller-supplied clean hidden state is used when given.
  @Test func cleanHiddenIsTheLinearisationPoint() throws {
    let fx = try Fixture(ffBlock: false, seed: 21)
    let given = JacobianSparsity.ffLayerJacobians(inSAE: fx.inSAE, outSAE: fx.outSAE, mlp: fx.block.mlp, cleanMLPInput: fx.clean,
                                                  cleanHidden: withNoGrad { fx.block.mlp.cFc(Variable(fx.clean)).value },
                                                  inIndices: fx.inIndices, outIndices: fx.outIndices)
    Self.expectClose(given.scalars, fx.fastJacobians().scalars, tol: 1e-6, "explicit vs computed clean hidden")
    let shifted = JacobianSparsity.ffLayerJacobians(inSAE: fx.inSAE, outSAE: fx.outSAE, mlp: fx.block.mlp, cleanMLPInput: fx.clean,
                                                    cleanHidden: Tensor(zeros: [fx.n, 4 * Self.c]),
                                                    inIndices: fx.inIndices, outIndices: fx.outIndices)
    #expect(shifted.maxAbsDifference(given) > 1e-2)
  }

  // MARK: J_total and its gradient

  @Test(arguments: 0..<4)
  func totalAndGradientsMatchFiniteDifferences(_ caseIndex: Int) throws {
    let (ffBlock, norm) = Self.cases[caseIndex]
    let fx = try Fixture(ffBlock: ffBlock, norm: norm, seed: 31 + UInt64(caseIndex))
    let label = "\(ffBlock ? "FF block" : "FF layer") \(norm.rawValue)"
    var ref = fx.reference()
    let lambda: Float = 0.75
    let term = fx.term()
    let expected = ref.total()
    #expect(Swift.abs(Double(term.value.scalar) - expected) <= 1e-5 * Swift.max(1, expected), "\(label): total \(term.value.scalar) vs \(expected)")
    // Σ|J|/k² of the per-token Jacobians.
    let fromJacobians = fx.fastJacobians().scalars.reduce(0) { $0 + Double(Swift.abs($1)) } / Double(Self.k * Self.k)
    #expect(Swift.abs(fromJacobians - expected) <= 1e-5 * Swift.max(1, expected))

    fx.inSAE.wDec.zeroGrad()
    fx.outSAE.wEnc.zeroGrad()
    (term * lambda).backward()
    let dDec = try #require(fx.inSAE.wDec.grad).scalars
    let dEnc = try #require(fx.outSAE.wEnc.grad).scalars

    // Central differences of λ·J_total(W) in double precision.
    let eps = 1e-6
    func numeric(_ keyPath: WritableKeyPath<JacobianReference, [Double]>, count: Int) -> [Float] {
      (0..<count).map { i in
        let v = ref[keyPath: keyPath][i]
        ref[keyPath: keyPath][i] = v + eps
        let up = ref.total()
        ref[keyPath: keyPath][i] = v - eps
        let down = ref.total()
        ref[keyPath: keyPath][i] = v
        return Float(Double(lambda) * (up - down) / (2 * eps))
      }
    }
    let numDec = numeric(\.wDecIn, count: Self.f * Self.c)
    let numEnc = numeric(\.wEncOut, count: Self.c * Self.f)
    Self.expectClose(dDec, numDec, tol: 1e-4, "\(label): ∂/∂W_dec_in")
    Self.expectClose(dEnc, numEnc, tol: 1e-4, "\(label): ∂/∂W_enc_out")
    #expect(numDec.map { Swift.abs($0) }.max()! > 1e-2 && numEnc.map { Swift.abs($0) }.max()! > 1e-2, "\(label): vanishing gradient")
    // Only active decoder rows and encoder columns receive gradient.
    let activeIn = Set(fx.inIndices.scalars.map(Int.init)), activeOut = Set(fx.outIndices.scalars.map(Int.init))
    for row in 0..<Self.f where !activeIn.contains(row) {
      #expect((0..<Self.c).allSatisfy { dDec[row * Self.c + $0] == 0 }, "\(label): inactive decoder row \(row) has gradient")
    }
    for col in 0..<Self.f where !activeOut.contains(col) {
      #expect((0..<Self.c).allSatisfy { dEnc[$0 * Self.f + col] == 0 }, "\(label): inactive encoder column \(col) has gradient")
    }
  }

  /// Without gradient recording the term is a constant; GPT weights never receive gradients from it.
  @Test func noGradAndFrozenGPT() throws {
    let fx = try Fixture(ffBlock: true, seed: 41)
    let constant = withNoGrad { fx.term() }
    #expect(constant.isLeaf && !constant.requiresGrad)
    let term = fx.term()
    #expect(Swift.abs(term.value.scalar - constant.value.scalar) <= 1e-6 * Swift.max(1, constant.value.scalar))
    for (_, p) in fx.block.namedParameters { p.zeroGrad() }
    term.backward()
    #expect(fx.block.namedParameters.allSatisfy { $0.1.grad == nil })
  }

  /// Several worker chunks (≥ 128 tokens on two or more cores) and several token blocks (32 tokens, the
  /// unit of the DynamicTanh sgemm) reduce to the same Jacobians, total and gradients as uneven parts of
  /// the batch evaluated separately (one of them a single token).
  @Test(arguments: 0..<4)
  func chunksAndBlocksAreAdditive(_ caseIndex: Int) throws {
    let (ffBlock, norm) = Self.cases[caseIndex]
    let fx = try Fixture(ffBlock: ffBlock, norm: norm, tokens: 200, seed: 51)
    func run(_ rows: Range<Int>) -> (Float, Tensor, Tensor, Tensor) {
      fx.inSAE.wDec.zeroGrad()
      fx.outSAE.wEnc.zeroGrad()
      let x = fx.clean.slice(axis: 0, rows)
      let ins = fx.inIndices.rows(rows), outs = fx.outIndices.rows(rows)
      let term = ffBlock
        ? JacobianSparsity.ffBlock(inSAE: fx.inSAE, outSAE: fx.outSAE, block: fx.block, cleanResidMid: x, inIndices: ins, outIndices: outs)
        : JacobianSparsity.ffLayer(inSAE: fx.inSAE, outSAE: fx.outSAE, mlp: fx.block.mlp, cleanMLPInput: x, inIndices: ins, outIndices: outs)
      let jacobians = ffBlock
        ? JacobianSparsity.ffBlockJacobians(inSAE: fx.inSAE, outSAE: fx.outSAE, block: fx.block, cleanResidMid: x, inIndices: ins, outIndices: outs)
        : JacobianSparsity.ffLayerJacobians(inSAE: fx.inSAE, outSAE: fx.outSAE, mlp: fx.block.mlp, cleanMLPInput: x, inIndices: ins, outIndices: outs)
      term.backward()
      return (term.value.scalar, jacobians, fx.inSAE.wDec.grad!, fx.outSAE.wEnc.grad!)
    }
    let whole = run(0..<200)
    let parts = [0..<1, 1..<45, 45..<131, 131..<200].map(run)
    let label = "\(ffBlock ? "FF block" : "FF layer") \(norm.rawValue)"
    #expect(Swift.abs(whole.0 - parts.reduce(0) { $0 + $1.0 }) <= 1e-4 * whole.0, "\(label): total")
    Self.expectClose(whole.1.scalars, parts.flatMap { $0.1.scalars }, tol: 1e-6, "\(label): Jacobians")
    Self.expectClose(whole.2.scalars, parts.dropFirst().reduce(parts[0].2) { $0 + $1.2 }.scalars, tol: 1e-5, "\(label): ∂/∂W_dec_in")
    Self.expectClose(whole.3.scalars, parts.dropFirst().reduce(parts[0].3) { $0 + $1.3 }.scalars, tol: 1e-5, "\(label): ∂/∂W_enc_out")
  }

  // MARK: norm Jacobians

  /// Autograd Jacobian of `norm` at one row x [C] (rows: outputs).
  static func autogradNormJacobian(_ norm: any Normalization, at x: Tensor) -> [Float] {
    let c = x.count
    let xv = Variable(x.reshaped([1, c]), requiresGrad: true)
    let y = norm(xv)
    var out: [Float] = []
    for i in 0..<c {
      xv.zeroGrad()
      var seed = Tensor(zeros: [1, c])
      seed[0, i] = 1
      y.backward(gradient: seed, retainGraph: true)
      out += xv.grad!.scalars
    }
    return out
  }

  @Test func layerNormJacobianIsExact() throws {
    let fx = try Fixture(ffBlock: true, norm: .layerNorm, seed: 61)
    for t in 0..<fx.n {
      let x = fx.clean.slice(axis: 0, t..<(t + 1)).reshaped([Self.c])
      let exact = fx.block.ln2.form.denseJacobian(at: x).scalars
      Self.expectClose(exact, Self.autogradNormJacobian(fx.block.ln2, at: x), tol: 1e-5, "LayerNorm Jacobian, token \(t)")
      // The rank-2 correction is not negligible: the off-diagonal mass is a sizeable part of the whole,
      // so a diagonal approximation (the reference's) would be wrong.
      var off: Float = 0, all: Float = 0
      for i in 0..<Self.c {
        for j in 0..<Self.c {
          all += Swift.abs(exact[i * Self.c + j])
          if i != j { off += Swift.abs(exact[i * Self.c + j]) }
        }
      }
      #expect(off > 0.2 * all, "token \(t): off-diagonal \(off) of \(all)")
    }
  }

  @Test func dynamicTanhJacobianIsDiagonalAndExact() throws {
    let fx = try Fixture(ffBlock: true, norm: .dynamicTanh, seed: 71)
    for t in 0..<fx.n {
      let x = fx.clean.slice(axis: 0, t..<(t + 1)).reshaped([Self.c])
      let exact = fx.block.ln2.form.denseJacobian(at: x).scalars
      Self.expectClose(exact, Self.autogradNormJacobian(fx.block.ln2, at: x), tol: 1e-6, "DynamicTanh Jacobian, token \(t)")
      for i in 0..<Self.c { for j in 0..<Self.c where i != j { #expect(exact[i * Self.c + j] == 0) } }
    }
  }

  // MARK: evaluation metric

  /// `metrics` reports J_total per pair for JSAE models only, keyed by the pair's input-side key, equal to
  /// the term computed from the clean activations and top-k indices of the same forward pass.
  @Test func metricsReportJacobianForJSAE() throws {
    let gpt = try GPT(config: GPTConfig(blockSize: 8, vocabSize: 16, nLayer: 2, nHead: 2, nEmbd: Self.c), seed: 3)
    var g = RandomGenerator(seed: 5)
    let tokens = IntTensor(shape: [2, 8], scalars: (0..<16).map { _ in Int32(g.next() % 16) })
    let targets = IntTensor(shape: [2, 8], scalars: (0..<16).map { _ in Int32(g.next() % 16) })
    for (variant, points) in [(SAEVariant.jsae, (HookPoint.mlpin, HookPoint.mlpout)), (.jsaeBlock, (.residmid, .residpost)),
                              (.topK, (.mlpin, .mlpout))] {
      let keys = (0..<2).flatMap { [SAEKey(layer: $0, hookPoint: points.0), SAEKey(layer: $0, hookPoint: points.1)] }
      let config = SAEConfig(nFeatures: [Self.f, Self.f, Self.f, Self.f], saeVariant: variant, topK: [Self.k, Self.k, Self.k, Self.k], saeKeys: keys)
      let model = try SparsifiedGPT(gpt: gpt, config: config, seed: 9)
      let m = try model.metrics(tokens, targets: targets)
      if variant == .topK {
        #expect(m.jacobianL1.isEmpty)
        continue
      }
      #expect(Set(m.jacobianL1.keys) == Set(keys.filter { $0.hookPoint == points.0 }))
      let acts = try model.activations(tokens)
      for layer in 0..<2 {
        let (inKey, outKey) = (SAEKey(layer: layer, hookPoint: points.0), SAEKey(layer: layer, hookPoint: points.1))
        let inOut = model.saes[inKey]!(Variable(acts[inKey]!)), outOut = model.saes[outKey]!(Variable(acts[outKey]!))
        let expected = withNoGrad {
          JacobianSparsity.pairTerm(model, layer: layer, cleanInput: acts[inKey]!, inIndices: inOut.topKIndices!,
                                    outIndices: outOut.topKIndices!).value.scalar
        }
        #expect(expected > 0)
        #expect(Swift.abs(m.jacobianL1[inKey]! - expected) <= 1e-5 * expected, "\(variant) layer \(layer)")
      }
    }
  }

  // MARK: benchmark (opt-in)

  /// Forward + backward of the term for one pair at training size (16384 tokens, F 512, k 10, C 64).
  /// Runs only with JACOBIAN_BENCH=1; prints timings, asserts nothing about them.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["JACOBIAN_BENCH"] == "1"))
  func benchmarkTrainingSize() throws {
    let c = 64, f = 512, k = 10, n = 16384
    var g = RandomGenerator(seed: 1)
    for (label, norm, ffBlock) in [("FF layer", NormStrategy.layerNorm, false), ("FF block LayerNorm", .layerNorm, true),
                                   ("FF block DynamicTanh", .dynamicTanh, true)] {
      let gpt = try GPT(config: GPTConfig(blockSize: 128, vocabSize: 128, nLayer: 1, nHead: 4, nEmbd: c, normStrategy: norm), seed: 2)
      let block = gpt.blocks[0]
      for (_, p) in gpt.namedParameters { p.setRequiresGrad(false) }
      let inSAE = TopKSAE(key: SAEKey(layer: 0, hookPoint: ffBlock ? .residmid : .mlpin), featureCount: f, embeddingSize: c, k: k, generator: &g)
      let outSAE = TopKSAE(key: SAEKey(layer: 0, hookPoint: ffBlock ? .residpost : .mlpout), featureCount: f, embeddingSize: c, k: k, generator: &g)
      let x = Tensor.normal([n, c], generator: &g)
      let ins = IntTensor(shape: [n, k], scalars: (0..<n).flatMap { _ in (0..<f).shuffled(using: &g).prefix(k).map(Int32.init) })
      let outs = IntTensor(shape: [n, k], scalars: (0..<n).flatMap { _ in (0..<f).shuffled(using: &g).prefix(k).map(Int32.init) })
      func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
      }
      func problem() -> JacobianSparsity.Problem {
        ffBlock
          ? JacobianSparsity.ffBlockProblem(inSAE: inSAE.form, outSAE: outSAE.form, block: block, cleanResidMid: x, inIndices: ins, outIndices: outs)
          : JacobianSparsity.ffLayerProblem(inSAE: inSAE.form, outSAE: outSAE.form, mlp: block.mlp, cleanMLPInput: x, cleanHidden: nil,
                                            inIndices: ins, outIndices: outs)
      }
      var wall: [Double] = [], cpu: [Double] = [], setup: [Double] = [], kernel: [Double] = [], kernelForward: [Double] = []
      func cpuTime(_ body: () -> Void) -> Double {
        let t0 = cpuSeconds()
        body()
        return (cpuSeconds() - t0) * 1000
      }
      for _ in 0..<6 {
        inSAE.wDec.zeroGrad()
        outSAE.wEnc.zeroGrad()
        let start = Date(), cpuStart = cpuSeconds()
        let term = ffBlock
          ? JacobianSparsity.ffBlock(inSAE: inSAE, outSAE: outSAE, block: block, cleanResidMid: x, inIndices: ins, outIndices: outs)
          : JacobianSparsity.ffLayer(inSAE: inSAE, outSAE: outSAE, mlp: block.mlp, cleanMLPInput: x, inIndices: ins, outIndices: outs)
        (term * 1e-3).backward()
        wall.append(Date().timeIntervalSince(start) * 1000)
        cpu.append((cpuSeconds() - cpuStart) * 1000)
        var pr: JacobianSparsity.Problem?
        setup.append(cpuTime { pr = problem() })
        kernel.append(cpuTime { _ = pr!.kernel.run(gradients: true, keepJacobians: false) })
        kernelForward.append(cpuTime { _ = pr!.kernel.run(gradients: false, keepJacobians: false) })
      }
      func med(_ v: [Double]) -> Double { v.dropFirst().sorted()[2] }
      print(String(format: "jacobian bench %@: forward+backward wall min %.1f / median %.1f ms, process CPU median %.1f ms; "
                   + "CPU: set-up (h, gelu′, P, Q) %.1f ms, kernel with gradients %.1f ms, kernel forward only %.1f ms",
                   label, wall.dropFirst().min()!, med(wall), med(cpu), med(setup), med(kernel), med(kernelForward)))
    }
  }
}
