import Foundation
import Testing
import Tensor
import Autograd

/// Gradient checks of the arithmetic (with broadcasting) and unary operations.
@Suite struct ElementwiseGradTests {
  static let shapePairs: [([Int], [Int])] = [
    ([2, 3], [2, 3]), ([2, 3], [3]), ([3], [2, 3]), ([2, 1, 3], [4, 1]), ([4, 1], [2, 1, 3]),
    ([2, 3], [2, 1]), ([2, 3], [1]), ([], [2, 3]), ([2, 3], []),
  ]

  @Test(arguments: shapePairs)
  func addSubMulDivWithBroadcasting(a: [Int], b: [Int]) {
    let x = GradCheck.input(a, seed: 1), y = GradCheck.input(b, seed: 2)
    let d = GradCheck.awayFromZero(b, seed: 3, minMagnitude: 0.5)
    GradCheck.expect("add \(a) \(b)", [x, y]) { $0[0] + $0[1] }
    GradCheck.expect("sub \(a) \(b)", [x, y]) { $0[0] - $0[1] }
    GradCheck.expect("mul \(a) \(b)", [x, y]) { $0[0] * $0[1] }
    GradCheck.expect("div \(a) \(b)", [x, d]) { $0[0] / $0[1] }
  }

  @Test func oneSidedRequiresGrad() {
    let x = GradCheck.input([2, 3], seed: 4), y = GradCheck.awayFromZero([3], seed: 5, minMagnitude: 0.5)
    GradCheck.expect("mul wrt a only", [x, y], wrt: [0]) { $0[0] * $0[1] }
    GradCheck.expect("div wrt b only", [x, y], wrt: [1]) { $0[0] / $0[1] }
    GradCheck.expect("sub wrt b only", [x, y], wrt: [1]) { $0[0] - $0[1] }
  }

  @Test func scalarVariants() {
    let x = GradCheck.input([2, 3], seed: 6)
    GradCheck.expect("neg", [x]) { -$0[0] }
    GradCheck.expect("a * s", [x]) { $0[0] * 1.75 }
    GradCheck.expect("s * a", [x]) { -0.5 * $0[0] }
    GradCheck.expect("a / s", [x]) { $0[0] / 4 }
    GradCheck.expect("a + s", [x]) { $0[0] + 3 }
    GradCheck.expect("s + a", [x]) { 3 + $0[0] }
    GradCheck.expect("a - s", [x]) { $0[0] - 2 }
    GradCheck.expect("s - a", [x]) { 2 - $0[0] }
  }

  @Test func smoothUnaryOps() {
    let x = GradCheck.input([3, 7], seed: 7, low: -2, high: 2)  // 21 elements: SIMD body and scalar tail
    let pos = GradCheck.input([3, 7], seed: 8, low: 0.5, high: 2)
    GradCheck.expect("exp", [x]) { $0[0].exp() }
    GradCheck.expect("log", [pos]) { $0[0].log() }
    GradCheck.expect("tanh", [x]) { $0[0].tanh() }
    GradCheck.expect("sqrt", [pos]) { $0[0].sqrt() }
    GradCheck.expect("square", [x]) { $0[0].square() }
    GradCheck.expect("sigmoid", [x]) { $0[0].sigmoid() }
    GradCheck.expect("gelu", [x.scaled(1.5)]) { $0[0].gelu() }
    for p: Float in [3, 2, 1, 0.5, -1.5] {
      GradCheck.expect("pow \(p)", [pos]) { $0[0].pow(p) }
    }
  }

  @Test func kinkedUnaryOpsAwayFromKinks() {
    let x = GradCheck.awayFromZero([3, 7], seed: 9)
    GradCheck.expect("abs", [x]) { $0[0].abs() }
    GradCheck.expect("relu", [x]) { $0[0].relu() }
    // clamp to [-0.5, 0.7]: move inputs lying within 0.05 of a bound away from it
    let c = x.map { v in
      if Swift.abs(v + 0.5) < 0.05 { return v - 0.1 }
      if Swift.abs(v - 0.7) < 0.05 { return v + 0.1 }
      return v
    }
    GradCheck.expect("clamp", [c]) { $0[0].clamped(min: -0.5, max: 0.7) }
    GradCheck.expect("clamp min only", [c]) { $0[0].clamped(min: -0.5) }
    // the gradient is exactly zero where clamped and one inside
    let v = Variable(Tensor([-1, 0.2, 2]), requiresGrad: true)
    v.clamped(min: -0.5, max: 0.7).sum().backward()
    #expect(v.grad?.scalars == [0, 1, 0])
  }

  @Test func whereMaskAndMasked() {
    let x = GradCheck.input([2, 3], seed: 10), y = GradCheck.input([3], seed: 11), z = GradCheck.input([2, 1], seed: 12)
    let cond = Tensor(shape: [2, 3], scalars: [1, 0, 1, 0, 0, 1])
    GradCheck.expect("where [2,3]/[3]", [x, y]) { $0[0].whereMask(cond, else: $0[1]) }
    GradCheck.expect("where [3]/[2,1] cond [2,3]", [y, z]) { $0[0].whereMask(cond, else: $0[1]) }
    GradCheck.expect("where cond broadcast [1,3]", [x, z]) { $0[0].whereMask(Tensor(shape: [1, 3], scalars: [0, 1, 1]), else: $0[1]) }
    GradCheck.expect("masked [3]", [x]) { $0[0].masked(by: Tensor([1, 0, 0.5])) }
    GradCheck.expect("masked broadcast to [2,2,3]", [x]) { $0[0].masked(by: Tensor(shape: [2, 1, 1], scalars: [1, -2])) }
  }
}
