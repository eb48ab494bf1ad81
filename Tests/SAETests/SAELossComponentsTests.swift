import Foundation
import SAE
import Tensor
import Testing

/// `SAELossComponents.inputNorms` (the stream norms every evaluation logs) against a Double reference, on
/// widths with and without an 8-lane remainder.
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
}
