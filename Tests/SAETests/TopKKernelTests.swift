import Autograd
import Foundation
import GPT
import Tensor
import Testing
@testable import SAE

/// The fused sparse TopK kernel (`TopKSAE.callAsFunction`, one autograd node) against the dense differentiable
/// composition `decode(encode(x))` built from ordinary autograd operations: reconstruction, magnitudes, L0,
/// and the gradients of the reconstruction loss Σ_C (x̂ − x)², mean over tokens, with respect to the input and
/// every parameter — for an independent SAE, a staircase member, the detach variant, ties at the k-th value
/// and rows with fewer than k positive pre-activations.
@Suite struct TopKKernelTests {
  /// Gradients and values of one path.
  struct PathResult {
    var reconstruction: Tensor
    var magnitudes: Tensor
    var l0: Float
    var loss: Float
    /// "x", "W_enc", "b_enc", "W_dec", "b_dec" → gradient (zeros when none arrived).
    var grads: [String: Tensor]
  }

  static func parameters(_ sae: TopKSAE) -> [(String, Variable)] {
    [("W_enc", sae.wEnc), ("b_enc", sae.bEnc), ("W_dec", sae.wDec), ("b_dec", sae.bDec)]
  }

  static func run(_ sae: TopKSAE, _ input: Tensor, fused: Bool) -> PathResult {
    for (_, p) in parameters(sae) { p.zeroGrad() }
    let x = Variable(input, requiresGrad: true)
    let recon: Variable, mags: Tensor, l0: Float
    if fused {
      let out = sae(x)
      recon = out.reconstruction
      mags = out.magnitudes.dense()
      l0 = out.losses.l0
      #expect(out.topKIndices?.shape == Array(input.shape.dropLast()) + [sae.k])
    } else {
      let f = sae.encode(x)
      recon = sae.decode(f)
      mags = f.value
      let rows = input.count / input.shape.last!
      l0 = Float(f.value.scalars.filter { $0 != 0 }.count) / Float(rows)
    }
    let loss = (recon - x).square().sum(axis: -1).mean()
    loss.backward()
    var grads = ["x": x.grad ?? Tensor(zeros: input.shape)]
    for (name, p) in parameters(sae) { grads[name] = p.grad ?? Tensor(zeros: p.shape) }
    return PathResult(reconstruction: recon.value, magnitudes: mags, l0: l0, loss: loss.value.scalar, grads: grads)
  }

  /// Compares the two paths; returns the largest gradient difference relative to the largest gradient.
  @discardableResult
  static func compare(_ sae: TopKSAE, _ input: Tensor, label: String) -> (fused: PathResult, dense: PathResult) {
    let fused = run(sae, input, fused: true), dense = run(sae, input, fused: false)
    #expect(fused.reconstruction.maxAbsDifference(dense.reconstruction) <= 1e-5, "\(label): reconstruction")
    #expect(fused.magnitudes.shape == dense.magnitudes.shape)
    #expect(fused.magnitudes.maxAbsDifference(dense.magnitudes) <= 1e-5, "\(label): magnitudes")
    // The same features are active (exact zero pattern).
    #expect(fused.magnitudes.scalars.map { $0 != 0 } == dense.magnitudes.scalars.map { $0 != 0 }, "\(label): active set")
    #expect(fused.l0 == dense.l0, "\(label): L0 \(fused.l0) vs \(dense.l0)")
    #expect(abs(fused.loss - dense.loss) <= 1e-5 * max(1, abs(dense.loss)), "\(label): loss")
    var worst: Float = 0
    for name in ["x", "W_enc", "b_enc", "W_dec", "b_dec"] {
      let a = fused.grads[name]!, b = dense.grads[name]!
      #expect(a.shape == b.shape, "\(label): d\(name) shapes \(a.shape) vs \(b.shape)")
      guard a.shape == b.shape else { continue }
      let scale = max(b.scalars.map(abs).max() ?? 0, 1e-3)
      worst = max(worst, a.maxAbsDifference(b) / scale)
      #expect(a.maxAbsDifference(b) <= 1e-5 * scale, "\(label): d\(name) differs by \(a.maxAbsDifference(b)) (scale \(scale))")
    }
    print(String(format: "TopK kernel, %@: max |Δ x̂| %.1e, max gradient |Δ|/max|g| %.1e", label,
                 fused.reconstruction.maxAbsDifference(dense.reconstruction), worst))
    return (fused, dense)
  }

  /// Sets every parameter to the seeded init plus noise (nonzero biases).
  static func randomize(_ vars: [Variable], seed: UInt64) {
    var g = RandomGenerator(seed: seed)
    for v in vars { v.assign(v.value + Tensor.normal(v.shape, std: 0.1, generator: &g)) }
  }

  static func input(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.normal(shape, generator: &g)
  }

  /// Rows of a [F, C] or [C, F] gradient that are not all zero, along `axis` (0 = rows of [F, C]).
  static func touchedFeatures(_ g: Tensor, featureAxis: Int) -> Set<Int> {
    let (r, c) = (g.shape[0], g.shape[1])
    var out = Set<Int>()
    let s = g.scalars
    for i in 0..<r { for j in 0..<c where s[i * c + j] != 0 { out.insert(featureAxis == 0 ? i : j) } }
    return out
  }

  @Test func independentSAE() {
    var g = RandomGenerator(seed: 1)
    let sae = TopKSAE(key: SAEKey(layer: 0, hookPoint: .act), featureCount: 24, embeddingSize: 8, k: 5, generator: &g)
    Self.randomize(Self.parameters(sae).map(\.1), seed: 2)
    // 600 tokens: several row blocks of the kernel's forward and two threads in its backward.
    let (fused, _) = Self.compare(sae, Self.input([4, 150, 8], seed: 3), label: "independent")
    #expect(fused.l0 == 5, "no ties with random inputs: exactly k features per token")
    #expect(Self.touchedFeatures(fused.grads["W_dec"]!, featureAxis: 0).count > 12)
  }

  @Test func staircaseMemberSmallerThanTheSharedDictionary() throws {
    var g = RandomGenerator(seed: 4)
    let shared = SharedDictionary(group: 0, featureCount: 40, embeddingSize: 8, generator: &g)
    let member = TopKSAE(key: SAEKey(layer: 1, hookPoint: .act), featureCount: 24, k: 4, shared: shared)
    Self.randomize([shared.wEnc, shared.wDec, member.bEnc, member.bDec], seed: 5)
    let (fused, _) = Self.compare(member, Self.input([2, 70, 8], seed: 6), label: "staircase member")
    #expect(fused.grads["W_dec"]!.shape == [40, 8] && fused.grads["W_enc"]!.shape == [8, 40])
    let touchedDec = Self.touchedFeatures(fused.grads["W_dec"]!, featureAxis: 0)
    let touchedEnc = Self.touchedFeatures(fused.grads["W_enc"]!, featureAxis: 1)
    #expect(touchedDec.allSatisfy { $0 < 24 } && touchedEnc.allSatisfy { $0 < 24 }, "features beyond the member's 24")
    #expect(touchedDec.count > 10)
  }

  @Test func detachVariantTrainsOnlyItsSlice() throws {
    var g = RandomGenerator(seed: 7)
    let shared = SharedDictionary(group: 0, featureCount: 40, embeddingSize: 8, generator: &g)
    let member = TopKSAE(key: SAEKey(layer: 1, hookPoint: .act), featureCount: 32, k: 6, shared: shared,
                         trainableFeatures: 16..<32)
    Self.randomize([shared.wEnc, shared.wDec, member.bEnc, member.bDec], seed: 8)
    let (fused, dense) = Self.compare(member, Self.input([2, 60, 8], seed: 9), label: "detach")
    for result in [fused, dense] {
      let dec = Self.touchedFeatures(result.grads["W_dec"]!, featureAxis: 0)
      let enc = Self.touchedFeatures(result.grads["W_enc"]!, featureAxis: 1)
      #expect(dec.allSatisfy { (16..<32).contains($0) } && enc.allSatisfy { (16..<32).contains($0) })
      #expect(dec.count > 8 && enc.count > 8)
    }
    // The older slice still shapes the forward pass and the input gradient.
    #expect(fused.magnitudes.scalars.enumerated().contains { $0.offset % 32 < 16 && $0.element != 0 })
    // Its own biases get the full gradient.
    #expect(Self.touchedFeatures(fused.grads["b_enc"]!.reshaped([1, 32]), featureAxis: 1).contains { $0 < 16 })
  }

  /// Integer inputs and weights make every pre-activation exact, so ties are exact.
  /// Pre-activations (b_dec = 0, b_enc = 0) of the four rows x = e_0 … e_3 are the rows of W_enc.
  static let exactEncoder: [[Float]] = [
    [5, 3, 3, 3, 1, 0, -1, 2],     // k = 3: the 3rd largest is 3, tied three ways: 4 features kept
    [2, 2, 2, 2, -1, 0, 1, 0],     // four-way tie at the top: 4 kept
    [1, -2, 0, -3, 2, -1, -1, -5], // two positive pre-activations: 2 kept
    [0, -1, -2, 0, -3, -1, 0, -4], // none positive: nothing kept
  ]

  static func exactSAE() -> TopKSAE {
    var g = RandomGenerator(seed: 10)
    let sae = TopKSAE(key: SAEKey(layer: 0, hookPoint: .act), featureCount: 8, embeddingSize: 4, k: 3, generator: &g)
    sae.wEnc.assign(Tensor(shape: [4, 8], scalars: exactEncoder.flatMap { $0 }))
    sae.bEnc.assign(Tensor(zeros: [8]))
    sae.bDec.assign(Tensor(zeros: [4]))
    return sae
  }

  static let identityRows = Tensor(shape: [4, 4], scalars: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])

  @Test func tiesAtTheKthValueKeepEveryTiedFeature() {
    let sae = Self.exactSAE()
    let (fused, _) = Self.compare(sae, Self.identityRows, label: "ties")
    let m = fused.magnitudes.scalars
    #expect(Array(m[0..<8]) == [5, 3, 3, 3, 0, 0, 0, 0])
    #expect(Array(m[8..<16]) == [2, 2, 2, 2, 0, 0, 0, 0])
    // Gradients reach every tied feature's encoder column.
    let bEnc = fused.grads["b_enc"]!.scalars
    #expect((0..<4).allSatisfy { bEnc[$0] != 0 })
  }

  @Test func rowsWithFewerThanKPositivePreActivations() {
    let sae = Self.exactSAE()
    let out = sae(Variable(Self.identityRows))
    let m = out.magnitudes
    #expect(m.offsets == [0, 4, 8, 10, 10])
    #expect(Array(m.indices[8..<10]) == [0, 4] && Array(m.values[8..<10]) == [1, 2])
    #expect(out.losses.l0 == Float(4 + 4 + 2 + 0) / 4)
    // A row with no active feature reconstructs to b_dec exactly.
    #expect(Array(out.reconstruction.value.scalars[12..<16]) == sae.bDec.value.scalars)
    // Still k indices per row.
    #expect(out.topKIndices?.shape == [4, 3])
    // Both paths agree, also with a nonzero b_dec / b_enc shifting the picture.
    Self.compare(sae, Self.identityRows, label: "fewer than k")
    sae.bDec.assign(Tensor([0.5, -0.25, 0, 0.125]))
    Self.compare(sae, Self.identityRows * 2, label: "fewer than k, shifted")
  }

  // Widths of 64 and more (k ≤ 32) take the gathered selection in optimised builds; the rows it cannot take
  // (ties beyond its candidate budget, fewer than k positives) fall back to the scan within the same batch.

  @Test func productionWidthIndependentSAE() {
    var g = RandomGenerator(seed: 11)
    let sae = TopKSAE(key: SAEKey(layer: 0, hookPoint: .act), featureCount: 512, embeddingSize: 16, k: 10, generator: &g)
    Self.randomize(Self.parameters(sae).map(\.1), seed: 12)
    let (fused, _) = Self.compare(sae, Self.input([3, 100, 16], seed: 13), label: "F 512, k 10")
    #expect(fused.l0 == 10)
  }

  @Test func wideStaircaseMemberWithARemainderBlock() {
    var g = RandomGenerator(seed: 14)
    let shared = SharedDictionary(group: 0, featureCount: 128, embeddingSize: 16, generator: &g)
    let member = TopKSAE(key: SAEKey(layer: 2, hookPoint: .act), featureCount: 100, k: 7, shared: shared)
    Self.randomize([shared.wEnc, shared.wDec, member.bEnc, member.bDec], seed: 15)
    let (fused, _) = Self.compare(member, Self.input([2, 90, 16], seed: 16), label: "member F 100 of 128")
    #expect(Self.touchedFeatures(fused.grads["W_dec"]!, featureAxis: 0).allSatisfy { $0 < 100 })
  }

  @Test func wideRowsWithExactTiesAndFewPositives() {
    var g = RandomGenerator(seed: 17)
    let f = 96, c = 8
    let sae = TopKSAE(key: SAEKey(layer: 0, hookPoint: .act), featureCount: f, embeddingSize: c, k: 10, generator: &g)
    // Small integers: exact ties at the k-th value; zero rows see only b_enc, positive at 6 features.
    sae.wEnc.assign(Tensor(shape: [c, f], scalars: (0..<(c * f)).map { _ in Float(g.nextInt(below: 5) - 2) }))
    sae.bEnc.assign(Tensor(shape: [f], scalars: (0..<f).map { $0 % 19 == 0 ? 1 : -1 }))
    sae.bDec.assign(Tensor(zeros: [c]))
    var rows: [Float] = []
    for r in 0..<40 {
      for _ in 0..<c { rows.append(r % 4 == 3 ? 0 : Float(g.nextInt(below: 3) - 1)) }
    }
    let (fused, _) = Self.compare(sae, Tensor(shape: [40, c], scalars: rows), label: "F 96, integer ties")
    let counts = zip(fused.magnitudes.scalars.indices, fused.magnitudes.scalars).reduce(into: [Int](repeating: 0, count: 40)) {
      if $1.1 != 0 { $0[$1.0 / f] += 1 }
    }
    #expect(counts.contains { $0 > 10 }, "some row keeps a tie beyond k")
    #expect(counts.contains { $0 < 10 }, "some row has fewer than k positives")
  }

  /// At the presets' width C = 64 the kernel decodes each row in registers and computes each token's squared
  /// error and input norms as it goes: the reconstruction, the loss and the norms must be the very bits of the
  /// general path (x̂ = b_dec + Σ v·W_dec[j] entry by entry, `reconstructionLoss(_:_:)`, `inputNorms(_:)`), over
  /// row blocks with a remainder.
  @Test func presetWidthDecodesAndLossesMatchTheGeneralPathBitForBit() {
    var g = RandomGenerator(seed: 21)
    let c = 64, f = 512
    let sae = TopKSAE(key: SAEKey(layer: 1, hookPoint: .act), featureCount: f, embeddingSize: c, k: 10, generator: &g)
    Self.randomize(Self.parameters(sae).map(\.1), seed: 22)
    let input = Self.input([3, 200, c], seed: 23)  // 600 rows: two full row blocks and a remainder
    let out = withNoGrad { sae(Variable(input)) }
    let m = out.magnitudes
    var expected = [Float](repeating: 0, count: m.rows * c)
    let wd = sae.wDec.value.scalars, bd = sae.bDec.value.scalars
    for r in 0..<m.rows {
      for e in 0..<c { expected[r * c + e] = bd[e] }
      for q in m.offsets[r]..<m.offsets[r + 1] {
        let j = Int(m.indices[q])
        wd.withUnsafeBufferPointer { w in
          expected.withUnsafeMutableBufferPointer { o in
            VectorMath.axpy(m.values[q], w.baseAddress! + j * c, o.baseAddress! + r * c, c)
          }
        }
      }
    }
    #expect(out.reconstruction.value.scalars.map(\.bitPattern) == expected.map(\.bitPattern), "x̂ equals the entry-by-entry decode")
    let loss = withNoGrad { SAELossComponents.reconstructionLoss(input, Variable(out.reconstruction.value)) }
    #expect(out.losses.reconstruct.value.scalar.bitPattern == loss.value.scalar.bitPattern, "reconstruction loss")
    let norms = SAELossComponents.inputNorms(input.reshaped([-1, c]))
    #expect(out.losses.xNorm.bitPattern == norms.l2.bitPattern && out.losses.xL1.bitPattern == norms.l1.bitPattern, "input norms")
    #expect(out.losses.l0 == 10)
    Self.compare(sae, input, label: "C 64, F 512, k 10")
  }
}
