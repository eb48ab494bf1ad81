import Foundation
import Testing
import Autograd
import GPT
import Tensor
@testable import SAE

/// The dense SAE variants (standard, standard_v2, gated, gated_v2, jumprelu, jumprelu_staircase,
/// multilayer): forward values against a plain Double re-implementation of the spec, gradients of every
/// total loss against central differences of that re-implementation (detached terms held fixed), the
/// JumpReLU custom operations against their definitions, checkpoint layouts and round trips, and PyTorch
/// interop in both directions (fixtures from Tests/Fixtures/make_sae_variant_fixtures.py).
@Suite struct VariantTests {
  static let dense: [SAEVariant] = [.standard, .standardV2, .gated, .gatedV2, .jumpReLU, .jumpReLUStaircase, .multilayer]

  // MARK: construction

  /// Two SAEs at 0_act and 1_act; staircase and multilayer sizes are [F/2, F].
  static func sizes(_ variant: SAEVariant, f: Int) -> [Int] {
    variant == .jumpReLUStaircase || variant == .multilayer ? [f / 2, f] : [f, f]
  }

  static func gptConfig(embedding c: Int, layers: Int = 1) -> GPTConfig {
    GPTConfig(blockSize: 8, vocabSize: 8, nLayer: layers, nHead: 1, nEmbd: c)
  }

  static func config(_ variant: SAEVariant, sizes: [Int]) -> SAEConfig {
    SAEConfig(nFeatures: sizes, saeVariant: variant, saeKeys: sizes.indices.map { SAEKey(layer: $0, hookPoint: .act) })
  }

  /// Every distinct parameter behind the set's files, in first-seen order.
  static func fileParameters(_ set: SAESet) -> [(String, Variable)] {
    var seen = Set<ObjectIdentifier>()
    var out: [(String, Variable)] = []
    for sae in set.saes {
      for (name, p) in sae.checkpointParameters where seen.insert(ObjectIdentifier(p)).inserted { out.append((name, p)) }
    }
    return out
  }

  /// Random values with active and inactive features (not the training init).
  static func randomize(_ set: SAESet, seed: UInt64) {
    var g = RandomGenerator(seed: seed)
    for (name, p) in fileParameters(set) {
      let leaf = String(name.split(separator: ".").last!)
      let s = p.shape
      if leaf == "log_threshold" {
        p.assign(Tensor.uniform(s, low: 0.05, high: 0.5, generator: &g).map { Foundation.log($0) })
      } else if leaf.hasPrefix("W_") {
        p.assign(Tensor.normal(s, std: 0.4, generator: &g))
      } else if leaf == "b_dec" {
        p.assign(Tensor.normal(s, std: 0.2, generator: &g))
      } else {
        p.assign(Tensor.normal(s, std: 0.3, generator: &g))
      }
    }
  }

  static func makeSet(_ variant: SAEVariant, sizes: [Int], embedding c: Int, seed: UInt64) throws -> (SAEConfig, SAESet) {
    let config = config(variant, sizes: sizes)
    let set = try SAEBuilder.build(config, gpt: gptConfig(embedding: c, layers: max(1, sizes.count - 1)), seed: seed)
    randomize(set, seed: seed &+ 17)
    return (config, set)
  }

  static func configure(_ sae: any SparseAutoencoder, lambda: Float, bandwidth: Float) {
    sae.sparsityCoefficient = lambda
    (sae as? JumpReLUSAE)?.bandwidth = bandwidth
  }

  static func doubles(_ t: Tensor) -> [Double] { t.scalars.map(Double.init) }

  /// Largest |a − b| / max(1, |b|).
  static func scaledError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var worst = 0.0
    for (u, v) in zip(a, b) { worst = max(worst, Swift.abs(u - v) / max(1, Swift.abs(v))) }
    return worst
  }

  // MARK: plain re-implementation (Double, straight from the spec)

  struct PlainResult {
    var reconstruction: [Double] = []
    var magnitudes: [Double] = []
    var reconstruct = 0.0, sparsity = 0.0, aux = 0.0, l0 = 0.0, xNorm = 0.0, xL1 = 0.0
    /// Which side of every kink (ReLU, gate, threshold) each pre-activation is on.
    var signature: [Bool] = []
    /// JumpReLU: the straight-through gradient of the total loss w.r.t. log_threshold (full length).
    var logThresholdGradient: [Double]? = nil
    var total: Double { reconstruct + sparsity + aux }
  }

  /// One SAE of `variant` using the first `n` features of its (possibly shared) tensors `p`, named as in
  /// its file. `frozen` supplies the detached uses (gated: decoder norms, aux decoder and b_dec).
  static func plain(_ variant: SAEVariant, n: Int, c: Int, x: [Double], live p: [String: [Double]],
                    frozen q: [String: [Double]], lambda: Double, bandwidth eps: Double) -> PlainResult {
    func name(_ base: String) -> String {
      switch variant {
      case .jumpReLU: return base == "log_threshold" ? "jumprelu.log_threshold" : base
      case .jumpReLUStaircase: return base.hasPrefix("b_") ? base : "shared_context.\(base)"
      case .multilayer: return "sae.\(base)"
      default: return base
      }
    }
    let rows = x.count / c
    let wDec = p[name("W_dec")]!, bDec = p[name("b_dec")]!
    let width = wDec.count / c  // rows of the stored W_dec (F or F_max)
    let tied = variant == .standardV2 || variant == .gatedV2
    let gated = variant == .gated || variant == .gatedV2
    let jump = variant == .jumpReLU || variant == .jumpReLUStaircase
    let encoderName = gated ? "W_gate" : "W_enc"
    let wEnc = tied ? [] : p[name(encoderName)]!
    func enc(_ ci: Int, _ j: Int) -> Double { tied ? wDec[j * c + ci] : wEnc[ci * width + j] }
    func rowNorm(_ w: [Double], _ j: Int) -> Double {
      var s = 0.0
      for ci in 0..<c { s += w[j * c + ci] * w[j * c + ci] }
      return s.squareRoot()
    }
    func rect(_ u: Double) -> Double { u > -0.5 && u < 0.5 ? 1 : 0 }

    var r = PlainResult()
    r.reconstruction = [Double](repeating: 0, count: rows * c)
    r.magnitudes = [Double](repeating: 0, count: rows * n)
    var pre = [Double](repeating: 0, count: rows * n)
    let theta = jump ? (0..<n).map { Foundation.exp(p[name("log_threshold")]![$0]) } : []
    for row in 0..<rows {
      let xr = Array(x[(row * c)..<((row + 1) * c)])
      let input = variant == .multilayer ? xr : (0..<c).map { xr[$0] - bDec[$0] }
      var gateActivity = [Double](repeating: 0, count: n)
      for j in 0..<n {
        var e = 0.0
        for ci in 0..<c { e += input[ci] * enc(ci, j) }
        var f = 0.0
        if gated {
          let piGate = e + p["b_gate"]![j]
          let magnitude = (tied ? e : e * Foundation.exp(p["r_mag"]![j])) + p["b_mag"]![j]
          r.signature += [piGate > 0, magnitude > 0]
          f = piGate > 0 ? max(0, magnitude) : 0
          gateActivity[j] = max(0, piGate)
          r.sparsity += lambda * gateActivity[j] * rowNorm(q["W_dec"]!, j) / Double(rows)
        } else {
          let linear = e + p[name("b_enc")]![j]
          r.signature.append(linear > 0)
          f = max(0, linear)
          if jump {
            pre[row * n + j] = f
            r.signature.append(f > theta[j])
            f = f > theta[j] ? f : 0
            r.sparsity += lambda * (pre[row * n + j] > theta[j] ? 1 : 0) / Double(rows)
          } else {
            r.sparsity += lambda * f * rowNorm(wDec, j) / Double(rows)
          }
        }
        r.magnitudes[row * n + j] = f
        if f != 0 { r.l0 += 1 / Double(rows) }
      }
      var sq = 0.0, l1 = 0.0, err = 0.0, auxErr = 0.0
      for ci in 0..<c {
        var y = bDec[ci]
        for j in 0..<n { y += r.magnitudes[row * n + j] * wDec[j * c + ci] }
        r.reconstruction[row * c + ci] = y
        err += (y - xr[ci]) * (y - xr[ci])
        sq += xr[ci] * xr[ci]
        l1 += Swift.abs(xr[ci])
        if gated {
          var frozenY = q["b_dec"]![ci]
          for j in 0..<n { frozenY += gateActivity[j] * q["W_dec"]![j * c + ci] }
          auxErr += (xr[ci] - frozenY) * (xr[ci] - frozenY)
        }
      }
      r.reconstruct += err / Double(rows)
      r.aux += auxErr / Double(rows)
      r.xNorm += sq.squareRoot() / Double(rows)
      r.xL1 += l1 / Double(rows)
    }
    if jump {
      let full = p[name("log_threshold")]!.count
      var g = [Double](repeating: 0, count: full)
      for row in 0..<rows {
        for j in 0..<n {
          var gf = 0.0  // ∂reconstruct/∂f
          for ci in 0..<c { gf += 2 * (r.reconstruction[row * c + ci] - x[row * c + ci]) * wDec[j * c + ci] / Double(rows) }
          let k = rect((pre[row * n + j] - theta[j]) / eps)
          // chain through θ = exp(log θ): ∂θ/∂log θ = θ
          g[j] += theta[j] * (gf * (-theta[j] / eps) * k + lambda / Double(rows) * (-1 / eps) * k)
        }
      }
      r.logThresholdGradient = g
    }
    return r
  }

  static func plainParameters(_ sae: any SparseAutoencoder) -> [String: [Double]] {
    Dictionary(uniqueKeysWithValues: sae.checkpointParameters.map { ($0.0, doubles($0.1.value)) })
  }

  // MARK: forward values

  @Test(arguments: dense)
  func forwardMatchesPlainImplementation(_ variant: SAEVariant) throws {
    let c = 6
    let (_, set) = try Self.makeSet(variant, sizes: Self.sizes(variant, f: 10), embedding: c, seed: 3)
    var g = RandomGenerator(seed: 5)
    let x = Tensor.normal([2, 4, c], generator: &g)
    for (i, sae) in set.saes.enumerated() {
      let lambda: Float = i == 0 ? 0.7 : 0.2
      Self.configure(sae, lambda: lambda, bandwidth: 0.1)
      let out = withNoGrad { sae(Variable(x)) }
      let p = Self.plainParameters(sae)
      let ref = Self.plain(variant, n: sae.featureCount, c: c, x: Self.doubles(x), live: p, frozen: p,
                           lambda: Double(lambda), bandwidth: 0.1)
      #expect(out.reconstruction.shape == [2, 4, c])
      #expect(out.magnitudes.leadingShape == [2, 4] && out.magnitudes.featureCount == sae.featureCount)
      let recErr = Self.scaledError(Self.doubles(out.reconstruction.value), ref.reconstruction)
      let magErr = Self.scaledError(Self.doubles(out.magnitudes.dense()), ref.magnitudes)
      let l = out.losses
      let lossErr = Self.scaledError(
        [l.reconstruct.value.scalar, l.sparsity.value.scalar, l.aux.value.scalar, l.total.value.scalar, l.l0, l.xNorm, l.xL1].map(Double.init),
        [ref.reconstruct, ref.sparsity, ref.aux, ref.total, ref.l0, ref.xNorm, ref.xL1])
      print(String(format: "%@ SAE %d: recon err %.1e, magnitudes err %.1e, losses err %.1e (L0 %.2f of %d)",
                   variant.rawValue, i, recErr, magErr, lossErr, ref.l0, sae.featureCount))
      #expect(recErr < 1e-5 && magErr < 1e-5 && lossErr < 1e-5, "\(variant.rawValue) SAE \(i)")
      #expect(ref.l0 > 0.5 && ref.l0 < Double(sae.featureCount) - 0.5, "test data should leave features on and off")
      if variant == .gated || variant == .gatedV2 { #expect(ref.aux > 0) }
      #expect(ref.sparsity > 0)
      // encode/decode are the same maps, differentiable.
      let f = withNoGrad { sae.encode(Variable(x)) }
      #expect(f.value.maxAbsDifference(out.magnitudes.dense()) == 0)
      #expect(withNoGrad { sae.decode(f) }.value.maxAbsDifference(out.reconstruction.value) <= 1e-6)
      #expect(withNoGrad { sae.ablationPreActivation(Variable(x)) }.value.maxAbsDifference(f.value) == 0)
      #expect(sae.topK == nil)
    }
  }

  @Test func zeroCoefficientGivesNoSparsityLoss() throws {
    for variant in Self.dense {
      let (_, set) = try Self.makeSet(variant, sizes: Self.sizes(variant, f: 8), embedding: 4, seed: 8)
      var g = RandomGenerator(seed: 1)
      let out = set.saes[0](Variable(Tensor.normal([3, 4], generator: &g)))
      #expect(out.losses.sparsity.value.scalar == 0, "\(variant.rawValue)")
      #expect((out.losses.aux.value.scalar > 0) == (variant == .gated || variant == .gatedV2), "\(variant.rawValue)")
    }
  }

  // MARK: gradients of the total loss

  @Test(arguments: dense)
  func totalLossGradientsMatchCentralDifferences(_ variant: SAEVariant) throws {
    let c = 5, eps: Float = 0.25
    let (_, set) = try Self.makeSet(variant, sizes: Self.sizes(variant, f: 8), embedding: c, seed: 11)
    var g = RandomGenerator(seed: 12)
    let xt = Tensor.normal([2, 3, c], generator: &g)
    let x = Self.doubles(xt)
    let h = 1e-3
    var checked = 0, skipped = 0, worst = 0.0, thresholdChecked = 0
    for (i, sae) in set.saes.enumerated() {
      let lambda: Float = i == 0 ? 0.6 : 0.3
      Self.configure(sae, lambda: lambda, bandwidth: eps)
      for (_, p) in Self.fileParameters(set) { p.zeroGrad() }
      sae(Variable(xt)).losses.total.backward()
      let base = Self.plainParameters(sae)
      func run(_ live: [String: [Double]]) -> PlainResult {
        Self.plain(variant, n: sae.featureCount, c: c, x: x, live: live, frozen: base, lambda: Double(lambda),
                   bandwidth: Double(eps))
      }
      let reference = run(base)
      for (name, p) in sae.checkpointParameters {
        let analytic = Self.doubles(p.grad ?? Tensor(zeros: p.shape))
        if name.hasSuffix("log_threshold") {
          // Straight-through pseudo-gradient: compare with its definition, not with differences.
          let expected = try #require(reference.logThresholdGradient)
          let err = Self.scaledError(analytic, expected)
          #expect(err < 1e-4, "\(variant.rawValue) SAE \(i) \(name): \(analytic) vs \(expected)")
          #expect(expected.contains { $0 != 0 }, "no threshold inside the kernel window: the check would be vacuous")
          thresholdChecked += analytic.count
          continue
        }
        let scale = max(1, analytic.map(Swift.abs).max() ?? 0)
        for k in 0..<analytic.count {
          func at(_ step: Double) -> PlainResult {
            var live = base
            live[name]![k] += step
            return run(live)
          }
          let points = [at(h), at(-h), at(2 * h), at(-2 * h)]
          // Stay away from kinks: skip elements whose perturbations move any pre-activation across one.
          if points.contains(where: { $0.signature != reference.signature }) {
            skipped += 1
            continue
          }
          let numeric = (8 * (points[0].total - points[1].total) - (points[2].total - points[3].total)) / (12 * h)
          let err = Swift.abs(numeric - analytic[k])
          worst = max(worst, err / scale)
          checked += 1
          #expect(err <= 1e-4 * scale + 1e-3 * Swift.abs(numeric),
                  "\(variant.rawValue) SAE \(i) \(name)[\(k)]: numeric \(numeric), analytic \(analytic[k])")
        }
      }
    }
    print(String(format: "%@: %d gradient elements checked (%d skipped near kinks), worst scaled error %.1e, %d threshold elements",
                 variant.rawValue, checked, skipped, worst, thresholdChecked))
    #expect(checked > 100 && skipped * 10 < checked)
    if variant == .jumpReLU || variant == .jumpReLUStaircase { #expect(thresholdChecked > 0) }
  }

  @Test func staircaseMembersShareGradientsAndIgnoreContextBiases() throws {
    let (_, set) = try Self.makeSet(.jumpReLUStaircase, sizes: [4, 8], embedding: 5, seed: 21)
    let small = try #require(set.saes[0] as? JumpReLUSAE), large = try #require(set.saes[1] as? JumpReLUSAE)
    let shared = try #require(small.shared)
    #expect(large.shared === shared)
    var g = RandomGenerator(seed: 2)
    let x = Variable(Tensor.normal([6, 5], generator: &g))
    small.sparsityCoefficient = 0.5
    small(x).losses.total.backward()
    let gradDec = try #require(shared.wDec.grad)
    // The first member touches only the first 4 features of the shared matrices.
    #expect(gradDec.slice(axis: 0, 4..<8).maxAbsDifference(Tensor(zeros: [4, 5])) == 0)
    #expect(gradDec.slice(axis: 0, 0..<4).norm() > 0)
    #expect(shared.bEnc.grad == nil && shared.bDec.grad == nil)
    #expect(large.bEnc.grad == nil)
  }

  @Test func multilayerSlicesOneDictionary() throws {
    let (_, set) = try Self.makeSet(.multilayer, sizes: [3, 6, 9], embedding: 4, seed: 31)
    let saes = set.saes.compactMap { $0 as? MultilayerSAE }
    #expect(saes.map(\.featureCount) == [3, 6, 9])
    #expect(saes[1].dictionary === saes[0].dictionary && saes[2].dictionary === saes[0].dictionary)
    var g = RandomGenerator(seed: 4)
    let x = Variable(Tensor.normal([5, 4], generator: &g))
    // Features 0..<3 of every SAE are the same features.
    let f0 = withNoGrad { saes[0].encode(x) }.value, f2 = withNoGrad { saes[2].encode(x) }.value
    #expect(f2.slice(axis: 1, 0..<3).maxAbsDifference(f0) == 0)
    #expect(throws: SAEError.self) {
      _ = try SAEBuilder.build(Self.config(.multilayer, sizes: [4, 6]), gpt: Self.gptConfig(embedding: 4))
    }
  }

  @Test func everyParameterIsOwnedOnceAndFilesCoverThem() throws {
    for variant in Self.dense {
      let (_, set) = try Self.makeSet(variant, sizes: Self.sizes(variant, f: 8), embedding: 4, seed: 41)
      let owned = set.saes.flatMap { $0.namedParameters.map { ObjectIdentifier($0.1) } }
      #expect(Set(owned).count == owned.count, "\(variant.rawValue): a parameter is listed twice")
      let inFiles = Set(Self.fileParameters(set).map { ObjectIdentifier($0.1) })
      #expect(Set(owned) == inFiles, "\(variant.rawValue): owned parameters differ from the files' tensors")
      #expect(set.groups.isEmpty)
    }
  }

  // MARK: JumpReLU custom operations

  /// pre [rows, F] with half the entries within ±ε of θ (inside or near the kernel window), θ [F] > 0.
  static func jumpInputs(rows: Int, f: Int, eps: Float, seed: UInt64) -> (pre: Tensor, theta: Tensor, upstream: Tensor) {
    var g = RandomGenerator(seed: seed)
    let theta = Tensor.uniform([f], low: 0.1, high: 0.6, generator: &g)
    var pre = Tensor.uniform([rows, f], low: -0.2, high: 1.2, generator: &g)
    for r in 0..<rows {
      for j in 0..<f where g.nextUniform() < 0.5 { pre[r, j] = theta[j] + eps * (2 * g.nextUniform() - 1) }
    }
    return (pre, theta, Tensor.normal([rows, f], generator: &g))
  }

  @Test func jumpReLUBackwardMatchesDefinition() throws {
    let rows = 9, f = 7, eps: Float = 0.2
    let (pre, theta, up) = Self.jumpInputs(rows: rows, f: f, eps: eps, seed: 51)
    let vp = Variable(pre, requiresGrad: true), vt = Variable(theta, requiresGrad: true)
    let out = JumpReLUFunctions.jumpReLU(vp, threshold: vt, bandwidth: eps)
    out.backward(gradient: up)
    let gp = try #require(vp.grad), gt = try #require(vt.grad)
    var inWindow = 0
    var expectedTheta = [Double](repeating: 0, count: f)
    for r in 0..<rows {
      for j in 0..<f {
        let x = pre[r, j], t = theta[j], above = x > t
        #expect(out.value[r, j] == (above ? x : 0))
        #expect(gp[r, j] == (above ? up[r, j] : 0))
        let u = Double(x - t) / Double(eps)
        if u > -0.5 && u < 0.5 {
          inWindow += 1
          expectedTheta[j] += -(Double(t) / Double(eps)) * Double(up[r, j])
        }
      }
    }
    #expect(inWindow > 5)
    #expect(Self.scaledError(Self.doubles(gt), expectedTheta) < 1e-5, "\(gt) vs \(expectedTheta)")
  }

  @Test func stepBackwardMatchesDefinition() throws {
    let rows = 9, f = 7, eps: Float = 0.2
    let (pre, theta, up) = Self.jumpInputs(rows: rows, f: f, eps: eps, seed: 52)
    let vp = Variable(pre, requiresGrad: true), vt = Variable(theta, requiresGrad: true)
    let out = JumpReLUFunctions.step(vp, threshold: vt, bandwidth: eps)
    out.backward(gradient: up)
    #expect(vp.grad == nil, "the step function passes no gradient to its pre-activations")
    let gt = try #require(vt.grad)
    var expectedTheta = [Double](repeating: 0, count: f)
    for r in 0..<rows {
      for j in 0..<f {
        #expect(out.value[r, j] == (pre[r, j] > theta[j] ? 1 : 0))
        let u = Double(pre[r, j] - theta[j]) / Double(eps)
        if u > -0.5 && u < 0.5 { expectedTheta[j] += -(1 / Double(eps)) * Double(up[r, j]) }
      }
    }
    #expect(expectedTheta.contains { $0 != 0 })
    #expect(Self.scaledError(Self.doubles(gt), expectedTheta) < 1e-5, "\(gt) vs \(expectedTheta)")
  }

  /// The true derivatives (w.r.t. pre, away from θ) by central differences: [pre > θ] for JumpReLU, 0 for
  /// the step function.
  @Test func preActivationGradientsMatchFiniteDifferences() throws {
    let rows = 6, f = 5, eps: Float = 0.2, h: Float = 1.0 / 256
    let (pre, theta, up) = Self.jumpInputs(rows: rows, f: f, eps: eps, seed: 53)
    for step in [false, true] {
      func weighted(_ p: Tensor) -> Double {
        let v = withNoGrad {
          step ? JumpReLUFunctions.step(Variable(p), threshold: Variable(theta), bandwidth: eps)
               : JumpReLUFunctions.jumpReLU(Variable(p), threshold: Variable(theta), bandwidth: eps)
        }.value
        return zip(v.scalars, up.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      }
      let vp = Variable(pre, requiresGrad: true)
      let out = step ? JumpReLUFunctions.step(vp, threshold: Variable(theta), bandwidth: eps)
                     : JumpReLUFunctions.jumpReLU(vp, threshold: Variable(theta), bandwidth: eps)
      out.backward(gradient: up)
      let analytic = vp.grad ?? Tensor(zeros: pre.shape)
      var checked = 0
      for r in 0..<rows {
        for j in 0..<f where Swift.abs(pre[r, j] - theta[j]) > 3 * h {
          var plus = pre, minus = pre
          plus[r, j] += h
          minus[r, j] -= h
          let numeric = (weighted(plus) - weighted(minus)) / (2 * Double(h))
          #expect(Swift.abs(numeric - Double(analytic[r, j])) < 1e-3, "step \(step) [\(r), \(j)]: \(numeric) vs \(analytic[r, j])")
          checked += 1
        }
      }
      #expect(checked > rows * f / 3)
    }
  }

  @Test func zeroBandwidthGivesNoThresholdGradient() {
    let (pre, theta, up) = Self.jumpInputs(rows: 4, f: 3, eps: 0.1, seed: 54)
    let vt = Variable(theta, requiresGrad: true)
    JumpReLUFunctions.jumpReLU(Variable(pre), threshold: vt, bandwidth: 0).backward(gradient: up)
    #expect(vt.grad.map { $0.maxAbsDifference(Tensor(zeros: [3])) } == 0)
  }

  @Test func jumpReLUAttributionBaselineIsThresholdWhereActive() throws {
    let (_, set) = try Self.makeSet(.jumpReLUStaircase, sizes: [4, 8], embedding: 5, seed: 61)
    let sae = try #require(set.saes[0] as? JumpReLUSAE)
    var g = RandomGenerator(seed: 3)
    let f = withNoGrad { sae.encode(Variable(Tensor.normal([2, 3, 5], generator: &g))) }.value
    let baseline = sae.attributionBaseline(f)
    let theta = sae.logThreshold.value.slice(axis: 0, 0..<4).map { Foundation.exp($0) }
    #expect(baseline.shape == f.shape)
    let fr = f.reshaped([6, 4]), br = baseline.reshaped([6, 4])
    for r in 0..<6 { for j in 0..<4 { #expect(br[r, j] == (fr[r, j] > 0 ? theta[j] : 0)) } }
    #expect(fr.scalars.contains { $0 > 0 } && fr.scalars.contains { $0 == 0 })
    let standard = try Self.makeSet(.standard, sizes: [4, 4], embedding: 5, seed: 1).1.saes[0]
    #expect(standard.attributionBaseline(f).maxAbsDifference(Tensor(zeros: f.shape)) == 0)
  }

  @Test func denseMagnitudesMatchDenseScan() {
    var g = RandomGenerator(seed: 71)
    // Large enough for the parallel path; ~30% nonzero.
    let f = Tensor.uniform([700, 300], low: -1, high: 1, generator: &g).map { $0 > 0.4 ? $0 : 0 }
    let fast = FeatureMagnitudes.nonzeros(of: f), slow = FeatureMagnitudes(dense: f)
    #expect(fast.offsets == slow.offsets && fast.indices == slow.indices && fast.values == slow.values)
    #expect(fast.dense() == f)
  }

  // MARK: checkpoints

  @Test(arguments: dense)
  func checkpointRoundTrip(_ variant: SAEVariant) throws {
    let (config, set) = try Self.makeSet(variant, sizes: Self.sizes(variant, f: 8), embedding: 4, seed: 81)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("variant-roundtrip-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try SAECheckpoint.save(set, config: config, to: dir)
    let loadedConfig = try SAEConfig.load(from: dir)
    #expect(loadedConfig == config)
    let fresh = try SAEBuilder.build(loadedConfig, gpt: Self.gptConfig(embedding: 4), seed: 999)
    try SAECheckpoint.load(into: fresh, from: dir)
    for (a, b) in zip(Self.fileParameters(set), Self.fileParameters(fresh)) {
      #expect(a.0 == b.0 && a.1.value == b.1.value, "\(variant.rawValue) \(a.0)")
    }
    var g = RandomGenerator(seed: 2)
    let x = Variable(Tensor.normal([3, 4], generator: &g))
    for (s, t) in zip(set.saes, fresh.saes) {
      #expect(withNoGrad { s(x) }.reconstruction.value == withNoGrad { t(x) }.reconstruction.value)
    }
    // A wrong shape is a one-line error, not a trap.
    let other = try SAEBuilder.build(Self.config(variant, sizes: Self.sizes(variant, f: 12)), gpt: Self.gptConfig(embedding: 4))
    #expect(throws: SAEError.self) { try SAECheckpoint.load(into: other, from: dir) }
  }

  /// Files that disagree about the shared tensors: the one loaded last (highest index) wins.
  @Test(arguments: [SAEVariant.jumpReLUStaircase, .multilayer])
  func lastFileWinsForSharedTensors(_ variant: SAEVariant) throws {
    let (config, set) = try Self.makeSet(variant, sizes: [4, 8], embedding: 4, seed: 91)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("variant-lastwins-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try SAECheckpoint.save(set, config: config, to: dir, indices: [1])
    let decoderName = variant == .multilayer ? "sae.W_dec" : "shared_context.W_dec"
    let decoder = try #require(set.saes[0].checkpointParameters.first { $0.0 == decoderName }?.1)
    let kept = decoder.value
    decoder.assign(Tensor(shape: kept.shape, repeating: 7))
    try SAECheckpoint.save(set, config: config, to: dir, indices: [0])
    let fresh = try SAEBuilder.build(config, gpt: Self.gptConfig(embedding: 4), seed: 5)
    try SAECheckpoint.load(into: fresh, from: dir)
    let loaded = try #require(fresh.saes[0].checkpointParameters.first { $0.0 == decoderName }?.1)
    #expect(loaded.value == kept)
  }

  /// Names and shapes of the files the reference writes (reference-checkpoint-listing.txt, 64x4 model,
  /// keys 0_act…4_act); multilayer: this project's layout.
  static let listing: [(variant: SAEVariant, sizes: [Int], json: String, files: [[String: [Int]]])] = {
    let std = [512, 512, 512, 512, 512], stair = [512, 1024, 1536, 2048, 2560]
    let keys = "\"sae_keys\": [\"0_act\", \"1_act\", \"2_act\", \"3_act\", \"4_act\"]}"
    func json(_ sizes: [Int], _ variant: String) -> String {
      "{\"n_features\": [\(sizes.map(String.init).joined(separator: ", "))], \"sae_variant\": \"\(variant)\", " + keys
    }
    func same(_ file: [String: [Int]]) -> [[String: [Int]]] { [file, file] }
    let staircaseShared: [String: [Int]] = [
      "shared_context.W_dec": [2560, 64], "shared_context.W_enc": [64, 2560], "shared_context.b_dec": [64],
      "shared_context.b_enc": [2560], "shared_context.log_threshold": [2560]]
    return [
      (.standard, std, json(std, "standard"), same(["W_dec": [512, 64], "W_enc": [64, 512], "b_dec": [64], "b_enc": [512]])),
      (.standardV2, std, json(std, "standard_v2"), same(["W_dec": [512, 64], "b_dec": [64], "b_enc": [512]])),
      (.gated, std, json(std, "gated"), same(["W_dec": [512, 64], "W_gate": [64, 512], "b_dec": [64], "b_gate": [512],
                                              "b_mag": [512], "r_mag": [512]])),
      (.gatedV2, std, json(std, "gated_v2"), same(["W_dec": [512, 64], "b_dec": [64], "b_gate": [512], "b_mag": [512]])),
      (.jumpReLU, std, json(std, "jumprelu"), same(["W_dec": [512, 64], "W_enc": [64, 512], "b_dec": [64], "b_enc": [512],
                                                   "jumprelu.log_threshold": [512]])),
      (.jumpReLUStaircase, stair, json(stair, "jumprelu_staircase"),
       [staircaseShared.merging(["b_dec": [64], "b_enc": [512]]) { a, _ in a },
        staircaseShared.merging(["b_dec": [64], "b_enc": [1024]]) { a, _ in a }]),
      (.multilayer, stair, json(stair, "multilayer"),
       same(["sae.W_dec": [2560, 64], "sae.W_enc": [64, 2560], "sae.b_dec": [64], "sae.b_enc": [2560]])),
    ]
  }()

  @Test func fileLayoutsMatchReferenceListing() throws {
    for entry in Self.listing {
      let config = SAEConfig(nFeatures: entry.sizes, saeVariant: entry.variant,
                             saeKeys: (0..<5).map { SAEKey(layer: $0, hookPoint: .act) })
      let set = try SAEBuilder.build(config, gpt: Self.gptConfig(embedding: 64, layers: 4), seed: 1)
      let dir = FileManager.default.temporaryDirectory.appendingPathComponent("variant-listing-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: dir) }
      try SAECheckpoint.save(set, config: config, to: dir)
      let json = try String(contentsOf: dir.appendingPathComponent("sae.json"), encoding: .utf8)
      #expect(json == entry.json)
      let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
      #expect(names == ["sae.0.safetensors", "sae.1.safetensors", "sae.2.safetensors", "sae.3.safetensors",
                        "sae.4.safetensors", "sae.json"], "\(entry.variant.rawValue): \(names)")
      for (i, expected) in entry.files.enumerated() {
        let file = try SafeTensors.read(contentsOf: dir.appendingPathComponent("sae.\(i).safetensors"))
        #expect(file.metadata.isEmpty && file.intTensors.isEmpty)
        #expect(file.tensors.mapValues(\.shape) == expected, "\(entry.variant.rawValue) sae.\(i)")
      }
    }
  }

  @Test func initialisationFollowsTheSpec() throws {
    let c = 16, f = 64
    let cfg = Self.config(.jumpReLU, sizes: [f, f])
    let jump = try #require(try SAEBuilder.build(cfg, gpt: Self.gptConfig(embedding: c), seed: 3).saes[0] as? JumpReLUSAE)
    // JumpReLU: W_enc [C, F] ~ U(±√(6/F)), W_dec = W_encᵀ, log θ = log 0.1.
    let jb = (6 / Float(f)).squareRoot()
    #expect(jump.wEnc.value.max() <= jb && jump.wEnc.value.min() >= -jb && jump.wEnc.value.max() > 0.8 * jb)
    #expect(jump.wDec.value == jump.wEnc.value.transposed())
    #expect(jump.logThreshold.value.scalars.allSatisfy { Swift.abs($0 - Float(Foundation.log(0.1))) < 1e-7 })
    // The others: W_dec [F, C] ~ U(±√(6/C)) first, encoder = W_decᵀ, zero biases.
    let db = (6 / Float(c)).squareRoot()
    for variant in [SAEVariant.standard, .gated, .multilayer, .jumpReLUStaircase] {
      let set = try SAEBuilder.build(Self.config(variant, sizes: Self.sizes(variant, f: f)), gpt: Self.gptConfig(embedding: c), seed: 3)
      // Leaf names (a staircase member's own b_dec and shared_context.b_dec are both zero).
      let p = Dictionary(set.saes[0].checkpointParameters.map { (String($0.0.split(separator: ".").last!), $0.1.value) },
                         uniquingKeysWith: { a, _ in a })
      let wDec = try #require(p["W_dec"])
      #expect(wDec.max() <= db && wDec.min() >= -db && wDec.max() > 0.8 * db, "\(variant.rawValue)")
      #expect(p[variant == .gated ? "W_gate" : "W_enc"] == wDec.transposed(), "\(variant.rawValue)")
      for (name, t) in p where name.hasPrefix("b_") || name == "r_mag" {
        #expect(t.scalars.allSatisfy { $0 == 0 }, "\(variant.rawValue) \(name)")
      }
    }
  }

  // MARK: PyTorch interop

  static let fixtureRoot: URL? = Bundle.module.url(forResource: "variants", withExtension: nil, subdirectory: "Fixtures")

  /// What the fixture files record for a set on input x: per SAE i the reconstruction, the dense magnitudes,
  /// the loss components and the gradient of its total loss w.r.t. every tensor of its file.
  static func record(_ set: SAESet, x: Tensor, lambdas: [Float], bandwidth: Float) -> [String: Tensor] {
    var out: [String: Tensor] = ["x": x, "sparsity_coefficient": Tensor(lambdas), "bandwidth": Tensor([bandwidth])]
    for (i, sae) in set.saes.enumerated() {
      configure(sae, lambda: lambdas[i], bandwidth: bandwidth)
      for (_, p) in fileParameters(set) { p.zeroGrad() }
      let o = sae(Variable(x))
      o.losses.total.backward()
      let l = o.losses
      out["\(i).reconstruction"] = o.reconstruction.value
      out["\(i).magnitudes"] = o.magnitudes.dense()
      out["\(i).losses"] = Tensor([l.reconstruct.value.scalar, l.sparsity.value.scalar, l.aux.value.scalar,
                                   l.total.value.scalar, l.l0, l.xNorm, l.xL1])
      for (name, p) in sae.checkpointParameters { out["\(i).grad.\(name)"] = p.grad ?? Tensor(zeros: p.shape) }
    }
    return out
  }

  /// Loads a fixture checkpoint and reproduces every recorded value to 1e-5·max(1, |value|).
  static func reproduce(_ dir: URL, variant: SAEVariant) throws -> Double {
    let config = try SAEConfig.load(from: dir)
    #expect(config.saeVariant == variant)
    let expected = try SafeTensors.read(contentsOf: dir.appendingPathComponent("expected.safetensors")).tensors
    let x = try #require(expected["x"])
    let set = try SAEBuilder.build(config, gpt: gptConfig(embedding: x.shape.last!), seed: 12345)
    try SAECheckpoint.load(into: set, from: dir)
    let got = record(set, x: x, lambdas: try #require(expected["sparsity_coefficient"]).scalars,
                     bandwidth: try #require(expected["bandwidth"]).scalars[0])
    #expect(Set(got.keys) == Set(expected.keys), "\(variant.rawValue): recorded names differ")
    var worst = 0.0
    for (name, value) in got {
      guard let ref = expected[name] else { continue }
      #expect(value.shape == ref.shape, "\(variant.rawValue) \(name): \(value.shape) vs \(ref.shape)")
      guard value.shape == ref.shape else { continue }
      let err = scaledError(doubles(value), doubles(ref))
      worst = max(worst, err)
      #expect(err <= 1e-5, "\(variant.rawValue) \(name): scaled error \(err)")
    }
    return worst
  }

  @Test(arguments: dense)
  func reproducesPyTorchWrittenCheckpoints(_ variant: SAEVariant) throws {
    let root = try #require(Self.fixtureRoot)
    let worst = try Self.reproduce(root.appendingPathComponent("pytorch/\(variant.rawValue)"), variant: variant)
    print(String(format: "PyTorch-written %@: worst scaled error %.1e", variant.rawValue, worst))
  }

  /// The committed Swift-written fixtures (checked by PyTorch, see python-check.json) still load and
  /// reproduce their own records.
  @Test(arguments: dense)
  func reproducesCommittedSwiftCheckpoints(_ variant: SAEVariant) throws {
    let root = try #require(Self.fixtureRoot)
    let worst = try Self.reproduce(root.appendingPathComponent("swift/\(variant.rawValue)"), variant: variant)
    print(String(format: "Swift-written %@: worst scaled error %.1e", variant.rawValue, worst))
    let check = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("swift/python-check.json")))
    let report = try #require(((check as? [String: Any])?["variants"] as? [String: Any])?[variant.rawValue] as? [String: Any])
    #expect((report["failures"] as? [Any])?.isEmpty == true, "PyTorch did not reproduce the Swift-written \(variant.rawValue)")
  }

  /// Writes the Swift-side fixtures: run with SAE_VARIANT_FIXTURES_OUT=<repo>/Tests/SAETests/Fixtures/variants/swift,
  /// then check them with `make_sae_variant_fixtures.py --check-swift` (see Tests/Fixtures/README.md).
  @Test(.enabled(if: ProcessInfo.processInfo.environment["SAE_VARIANT_FIXTURES_OUT"] != nil))
  func writeSwiftFixtures() throws {
    let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SAE_VARIANT_FIXTURES_OUT"]!)
    for (n, variant) in Self.dense.enumerated() {
      let (config, set) = try Self.makeSet(variant, sizes: Self.sizes(variant, f: 16), embedding: 8, seed: 2000 + UInt64(n))
      var g = RandomGenerator(seed: 3000 + UInt64(n))
      let x = Tensor.normal([2, 3, 8], generator: &g)
      let dir = root.appendingPathComponent(variant.rawValue)
      try SAECheckpoint.save(set, config: config, to: dir)
      let values = Self.record(set, x: x, lambdas: [0.5, 0.25], bandwidth: 0.25)
      try SafeTensors.write(SafeTensorsFile(tensors: values), to: dir.appendingPathComponent("expected.safetensors"))
      print("wrote \(dir.path)")
    }
  }
}
