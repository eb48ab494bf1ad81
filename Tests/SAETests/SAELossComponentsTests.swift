import Autograd
import Foundation
import SAE
import Tensor
import Testing

/// `SAELossComponents.inputNorms` (the stream norms every evaluation logs) against a Double reference, and the
/// fused reconstruction-loss node against the autograd composition mean(Σ_C (x̂ − x)²) and central
/// differences, on widths with and without an 8-lane remainder.
@Suite struct SAELossComponentsTests {
  @Test(arguments: [64, 13, 3])
  func inputNormsMatchADoubleReference(width c: Int) {
    var g = RandomGenerator(seed: UInt64(c))
    let x = Tensor.normal([3, 700, c], generator: &g) * 2
    let (l2, l1) = SAELossComponents.inputNorms(x)
    let s = x.scalars
    let rows = x.count / c
    var want2 = 0.0, want1 = 0.0
    for r in 0..<rows {
      let row = s[(r * c)..<((r + 1) * c)].map(Double.init)
      want2 += row.map { $0 * $0 }.reduce(0, +).squareRoot()
      want1 += row.map(abs).reduce(0, +)
    }
    want2 /= Double(rows)
    want1 /= Double(rows)
    #expect(abs(Double(l2) - want2) <= 2e-6 * want2, "L2 \(l2) vs \(want2)")
    #expect(abs(Double(l1) - want1) <= 2e-6 * want1, "L1 \(l1) vs \(want1)")
    // Hand values: rows (3, 4) and (0, −2).
    let hand = SAELossComponents.inputNorms(Tensor(shape: [2, 2], scalars: [3, 4, 0, -2]))
    #expect(hand.l2 == 3.5 && hand.l1 == 4.5)
  }

  @Test(arguments: [64, 13, 3])
  func reconstructionLossMatchesTheCompositionAndCentralDifferences(width c: Int) {
    var g = RandomGenerator(seed: 40 + UInt64(c))
    // Multiples of 2⁻¹² perturbed by h = 2⁻⁷: every perturbed input is exact.
    func quantised(_ t: Tensor) -> Tensor { t.map { ($0 * 4096).rounded() / 4096 } }
    let x = quantised(Tensor.normal([2, 5, c], generator: &g))
    let start = quantised(Tensor.normal([2, 5, c], generator: &g))
    let xhat = Variable(start, requiresGrad: true)
    let loss = SAELossComponents.reconstructionLoss(x, xhat)
    loss.backward()
    let fused = xhat.grad!
    let composed = Variable(start, requiresGrad: true)
    let reference = (composed - Variable(x)).square().sum(axis: -1).mean()
    reference.backward()
    #expect(abs(loss.value.scalar - reference.value.scalar) <= 1e-6 * reference.value.scalar)
    #expect(fused.maxAbsDifference(composed.grad!) <= 1e-6 * (composed.grad!.scalars.map(abs).max() ?? 1))
    // Central differences of the fused forward.
    let h: Float = 1.0 / 128
    var worst: Float = 0
    let values = start.scalars
    for i in 0..<start.count {
      var up = values, down = values
      up[i] += h
      down[i] -= h
      let plus = Tensor(shape: start.shape, scalars: up), minus = Tensor(shape: start.shape, scalars: down)
      let lp = withNoGrad { SAELossComponents.reconstructionLoss(x, Variable(plus)).value.scalar }
      let lm = withNoGrad { SAELossComponents.reconstructionLoss(x, Variable(minus)).value.scalar }
      let numeric = (lp - lm) / (2 * h)
      worst = max(worst, abs(numeric - fused.scalars[i]) / max(1, abs(numeric)))
    }
    #expect(worst <= 1e-3, "width \(c): worst relative difference \(worst)")
    // No gradient wanted: a plain value.
    #expect(!withNoGrad { SAELossComponents.reconstructionLoss(x, Variable(start, requiresGrad: true)) }.requiresGrad)
  }
}
