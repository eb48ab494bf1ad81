import Foundation
import Testing
import Tensor
import Autograd

/// Gradient checks of indexSelect, gather, scatterAdd, topKMask and custom operations.
@Suite struct IndexingGradTests {
  @Test func indexSelect() {
    let x = GradCheck.input([2, 5, 3], seed: 91)
    GradCheck.expect("indexSelect axis 1", [x]) { $0[0].indexSelect(axis: 1, IntTensor([4, 0, 4, 2])) }
    GradCheck.expect("indexSelect axis -1, 2-D indices", [x]) {
      $0[0].indexSelect(axis: -1, IntTensor(shape: [2, 2], scalars: [2, 2, 0, 1]))
    }
    GradCheck.expect("indexSelect axis 0", [x]) { $0[0].indexSelect(axis: 0, IntTensor([1, 1, 0])) }
  }

  @Test func gatherAndScatterAdd() {
    var g = RandomGenerator(seed: 92)
    let idx = IntTensor(shape: [2, 5, 3], scalars: (0..<30).map { _ in Int32(g.nextInt(below: 4)) })
    let x = GradCheck.input([2, 4, 3], seed: 93), src = GradCheck.input([2, 5, 3], seed: 94)
    GradCheck.expect("gather axis 1", [x]) { $0[0].gather(axis: 1, idx) }
    GradCheck.expect("scatterAdd axis 1", [x, src]) { $0[0].scatterAdd(axis: 1, idx, $0[1]) }
    GradCheck.expect("scatterAdd source only", [x, src], wrt: [1]) { $0[0].scatterAdd(axis: 1, idx, $0[1]) }
    let lastIdx = IntTensor(shape: [2, 4, 2], scalars: (0..<16).map { _ in Int32(g.nextInt(below: 3)) })
    GradCheck.expect("gather last axis", [x]) { $0[0].gather(axis: -1, lastIdx) }
  }

  @Test func topKMask() {
    // distinct values with gaps of 0.125: the kept set does not change under perturbation
    let x = GradCheck.separated([3, 6], seed: 95)
    GradCheck.expect("topKMask k=3", [x]) { $0[0].topKMask(3).0 }
    GradCheck.expect("topKMask k=1", [x]) { $0[0].topKMask(1).0 }
    let v = Variable(Tensor(shape: [2, 4], scalars: [0.5, -1, 2, 1, 3, 3, 0, 3]), requiresGrad: true)
    let (kept, idx) = v.topKMask(2)
    #expect(kept.value.scalars == [0, 0, 2, 1, 3, 3, 0, 3])  // ties at the threshold are all kept
    #expect(idx.scalars == [2, 3, 0, 1])
    kept.sum().backward()
    #expect(v.grad?.scalars == [0, 0, 1, 1, 1, 1, 0, 1])
  }

  @Test func customOp() {
    let x = GradCheck.input([2, 3], seed: 96), y = GradCheck.input([3], seed: 97)
    // f(x, y) = x³·y (y broadcast), with a hand-written backward
    GradCheck.expect("custom x³·y", [x, y]) { v in
      Variable.custom("cube_times", inputs: [v[0], v[1]], forward: { t in t[0].pow(3) * t[1] },
                      backward: { g, t, _ in
                        [g * t[0].unary(.square).scaled(3) * t[1], (g * t[0].pow(3)).sumToShape(t[1].shape)]
                      })
    }
    // a custom op whose backward uses its output: f = eˣ, f′ = f
    GradCheck.expect("custom exp via output", [x]) { v in
      Variable.custom("my_exp", inputs: [v[0]], forward: { $0[0].unary(.exp) }, backward: { g, _, out in [g * out] })
    }
    // straight-through estimator: forward rounds, backward is the identity
    let s = Variable(Tensor([0.4, 1.6]), requiresGrad: true)
    let ste = Variable.custom("ste_round", inputs: [s], forward: { $0[0].map { $0.rounded() } }, backward: { g, _, _ in [g] })
    #expect(ste.value.scalars == [0, 2])
    (ste * Variable(Tensor([3, 5]))).sum().backward()
    #expect(s.grad?.scalars == [3, 5])
  }
}
