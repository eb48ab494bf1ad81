import Foundation
import Testing
import Tensor
import Autograd

/// Gradient checks of matmul (every transpose combination, N-D × 2-D, batched) and linear.
@Suite struct MatmulGradTests {
  static let transposes = [(false, false), (false, true), (true, false), (true, true)]

  @Test(arguments: transposes)
  func matmul2D(transposeA: Bool, transposeB: Bool) {
    let (m, k, n) = (3, 4, 5)
    let a = GradCheck.input(transposeA ? [k, m] : [m, k], seed: 41)
    let b = GradCheck.input(transposeB ? [n, k] : [k, n], seed: 42)
    GradCheck.expect("matmul 2-D tA \(transposeA) tB \(transposeB)", [a, b]) {
      Variable.matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB)
    }
    GradCheck.expect("matmul 2-D wrt b only", [a, b], wrt: [1]) {
      Variable.matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB)
    }
  }

  @Test(arguments: [false, true])
  func matmulNDby2D(transposeB: Bool) {
    let a = GradCheck.input([2, 3, 4], seed: 43)
    let b = GradCheck.input(transposeB ? [5, 4] : [4, 5], seed: 44)
    GradCheck.expect("matmul N-D×2-D tB \(transposeB)", [a, b]) { Variable.matmul($0[0], $0[1], transposeB: transposeB) }
  }

  @Test(arguments: transposes)
  func matmulBatched(transposeA: Bool, transposeB: Bool) {
    let (m, k, n) = (3, 4, 2)
    let a = GradCheck.input([2] + (transposeA ? [k, m] : [m, k]), seed: 45)
    let b = GradCheck.input([2] + (transposeB ? [n, k] : [k, n]), seed: 46)
    GradCheck.expect("matmul batched tA \(transposeA) tB \(transposeB)", [a, b]) {
      Variable.matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB)
    }
  }

  @Test func matmulBatched4D() {
    let a = GradCheck.input([2, 2, 3, 2], seed: 47), b = GradCheck.input([2, 2, 3, 2], seed: 48)
    GradCheck.expect("matmul 4-D tB", [a, b]) { Variable.matmul($0[0], $0[1], transposeB: true) }
  }

  @Test func linear() {
    let x = GradCheck.input([2, 3, 4], seed: 49), w = GradCheck.input([5, 4], seed: 50), b = GradCheck.input([5], seed: 51)
    GradCheck.expect("linear N-D with bias", [x, w, b]) { Variable.linear($0[0], weight: $0[1], bias: $0[2]) }
    GradCheck.expect("linear N-D no bias", [x, w]) { Variable.linear($0[0], weight: $0[1], bias: nil) }
    GradCheck.expect("linear 2-D with bias", [x.reshaped([6, 4]), w, b]) { Variable.linear($0[0], weight: $0[1], bias: $0[2]) }
    GradCheck.expect("linear frozen weight", [x, w, b], wrt: [0, 2]) { Variable.linear($0[0], weight: $0[1], bias: $0[2]) }
  }

  /// Layers whose dW [out, in] exceeds `LinearKernel.blockedBackwardSuits` take whole-batch products: the
  /// same gradients as the composition.
  @Test func wideLinearMatchesMatmulPlusBias() {
    let x = GradCheck.input([3, 300], seed: 55), w = GradCheck.input([256, 300], seed: 56), b = GradCheck.input([256], seed: 57)
    #expect(!LinearKernel.blockedBackwardSuits(inFeatures: 300, outFeatures: 256))
    GradCheck.expectSame("wide linear vs matmul+add", [x, w, b], tolerance: 1e-4,
                         fused: { Variable.linear($0[0], weight: $0[1], bias: $0[2]) },
                         composed: { Variable.matmul($0[0], $0[1], transposeB: true) + $0[2] })
  }

  @Test func linearMatchesMatmulPlusBias() {
    let x = GradCheck.input([2, 3, 4], seed: 52), w = GradCheck.input([5, 4], seed: 53), b = GradCheck.input([5], seed: 54)
    GradCheck.expectSame("linear vs matmul+add", [x, w, b],
                         fused: { Variable.linear($0[0], weight: $0[1], bias: $0[2]) },
                         composed: { Variable.matmul($0[0], $0[1], transposeB: true) + $0[2] })
    GradCheck.expectSame("linear (no bias) vs matmul", [x, w],
                         fused: { Variable.linear($0[0], weight: $0[1], bias: nil) },
                         composed: { Variable.matmul($0[0], $0[1], transposeB: true) })
  }
}
