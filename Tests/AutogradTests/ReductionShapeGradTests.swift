import Foundation
import Testing
import Tensor
import Autograd

/// Gradient checks of reductions, softmax, norms and shape operations.
@Suite struct ReductionShapeGradTests {
  @Test func sumAndMean() {
    let x = GradCheck.input([2, 3, 4], seed: 21)
    GradCheck.expect("sum all", [x]) { $0[0].sum() }
    GradCheck.expect("mean all", [x]) { $0[0].mean() }
    for axis in [0, 1, 2, -1] {
      for keep in [false, true] {
        GradCheck.expect("sum axis \(axis) keep \(keep)", [x]) { $0[0].sum(axis: axis, keepDims: keep) }
        GradCheck.expect("mean axis \(axis) keep \(keep)", [x]) { $0[0].mean(axis: axis, keepDims: keep) }
      }
    }
    GradCheck.expect("sum axes [0,2]", [x]) { $0[0].sum(axes: [0, 2]) }
    GradCheck.expect("sum axes [2,1] keep", [x]) { $0[0].sum(axes: [2, 1], keepDims: true) }
    GradCheck.expect("mean axes [0,1]", [x]) { $0[0].mean(axes: [0, 1]) }
    GradCheck.expect("mean axes [-1,0] keep", [x]) { $0[0].mean(axes: [-1, 0], keepDims: true) }
  }

  @Test func maxAlongAxis() {
    // all 24 values distinct with gaps of 0.125 ≫ 2h, so no tie moves under perturbation
    let x = GradCheck.separated([24], seed: 22).reshaped([2, 3, 4])
    for axis in [0, 1, 2] {
      for keep in [false, true] {
        GradCheck.expect("max axis \(axis) keep \(keep)", [x]) { $0[0].max(axis: axis, keepDims: keep) }
      }
    }
    // ties: the gradient goes to the first maximal element only
    let v = Variable(Tensor([1, 3, 3, 2]), requiresGrad: true)
    v.max(axis: 0).backward()
    #expect(v.grad?.scalars == [0, 1, 0, 0])
  }

  @Test func softmaxLogSoftmaxNorm() {
    let x = GradCheck.input([2, 3, 5], seed: 23, low: -2, high: 2)
    GradCheck.expect("softmax", [x]) { $0[0].softmax() }
    GradCheck.expect("logSoftmax", [x]) { $0[0].logSoftmax() }
    GradCheck.expect("softmax rank 1", [GradCheck.input([9], seed: 24, low: -3, high: 3)]) { $0[0].softmax() }
    for axis in [0, 1, 2] {
      GradCheck.expect("l2Norm axis \(axis)", [x]) { $0[0].l2Norm(axis: axis) }
      GradCheck.expect("l2Norm axis \(axis) keep", [x]) { $0[0].l2Norm(axis: axis, keepDims: true) }
    }
    // a zero row has norm 0 and gradient 0 (not NaN)
    let z = Variable(Tensor.zeros([2, 3]), requiresGrad: true)
    z.l2Norm(axis: 1).sum().backward()
    #expect(z.grad?.scalars == [0, 0, 0, 0, 0, 0])
  }

  @Test func shapeOps() {
    let x = GradCheck.input([2, 3, 4], seed: 25)
    GradCheck.expect("reshape", [x]) { $0[0].reshaped([4, -1]) }
    GradCheck.expect("permute [2,0,1]", [x]) { $0[0].permuted([2, 0, 1]) }
    GradCheck.expect("permute [1,2,0]", [x]) { $0[0].permuted([1, 2, 0]) }
    GradCheck.expect("transpose", [x]) { $0[0].transposed() }
    GradCheck.expect("transpose 0 2", [x]) { $0[0].transposed(0, 2) }
    GradCheck.expect("slice axis 1", [x]) { $0[0].slice(axis: 1, 1..<3) }
    GradCheck.expect("slice axis -1", [x]) { $0[0].slice(axis: -1, 0..<1) }
    GradCheck.expect("expand [3,1]→[2,3,4]", [GradCheck.input([3, 1], seed: 26)]) { $0[0].expanded(to: [2, 3, 4]) }
    GradCheck.expect("expand [4]→[3,4]", [GradCheck.input([4], seed: 27)]) { $0[0].expanded(to: [3, 4]) }
  }

  @Test func joinAndSplit() {
    let a = GradCheck.input([2, 1, 3], seed: 28), b = GradCheck.input([2, 2, 3], seed: 29), c = GradCheck.input([2, 3, 3], seed: 30)
    GradCheck.expect("concatenate axis 1", [a, b, c]) { Variable.concatenate($0, axis: 1) }
    GradCheck.expect("concatenate axis 1, middle constant", [a, b, c], wrt: [0, 2]) { Variable.concatenate($0, axis: 1) }
    let p = GradCheck.input([2, 3], seed: 31), q = GradCheck.input([2, 3], seed: 32)
    GradCheck.expect("stack axis 0", [p, q]) { Variable.stack($0, axis: 0) }
    GradCheck.expect("stack axis -1", [p, q]) { Variable.stack($0, axis: -1) }
    GradCheck.expect("stack axis 1", [p, q, p]) { Variable.stack($0, axis: 1) }
    // split: combine the pieces non-trivially so that every piece's gradient is checked
    GradCheck.expect("split", [c]) { v in
      let parts = v[0].split(axis: 1, sizes: [1, 2])
      return parts[0] * parts[1].sum(axis: 1, keepDims: true) + parts[0].exp()
    }
  }
}
