import Foundation
import Testing
import Tensor
import Autograd

/// The parameterised layers: Linear, LayerNorm, Embedding.
@Suite struct LayerTests {
  @Test func linearLayer() {
    var g = RandomGenerator(seed: 1)
    let layer = Linear(inFeatures: 64, outFeatures: 32, generator: &g)
    #expect(layer.namedParameters.map(\.0) == ["weight", "bias"])
    #expect(layer.weight.shape == [32, 64] && layer.bias?.shape == [32] && layer.inFeatures == 64 && layer.outFeatures == 32)
    #expect(layer.bias!.value.scalars.allSatisfy { $0 == 0 })
    let w = layer.weight.value.scalars.map(Double.init)
    let std = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
    #expect(abs(std - 0.02) < 0.002)
    #expect(Linear(inFeatures: 3, outFeatures: 2, bias: false, generator: &g).namedParameters.map(\.0) == ["weight"])

    let x = GradCheck.input([2, 3, 4], seed: 2), wt = GradCheck.input([5, 4], seed: 3), b = GradCheck.input([5], seed: 4)
    let wrapped = Linear(weight: Variable(wt), bias: Variable(b))
    #expect(wrapped(Variable(x)).value == Variable.linear(Variable(x), weight: Variable(wt), bias: Variable(b)).value)
    GradCheck.expect("Linear layer", [x, wt, b]) { Linear(weight: $0[1], bias: $0[2])($0[0]) }
  }

  @Test func layerNormLayer() {
    let ln = LayerNorm(dimension: 6)
    #expect(ln.namedParameters.map(\.0) == ["weight", "bias"] && ln.eps == 1e-5)
    #expect(ln.weight.value.scalars == [1, 1, 1, 1, 1, 1] && ln.bias.value.scalars == [0, 0, 0, 0, 0, 0])
    let x = GradCheck.input([3, 6], seed: 5, low: -2, high: 2)
    let y = ln(Variable(x)).value
    // unit weight, zero bias: every row has mean 0 and (biased) variance ≈ 1
    for r in 0..<3 {
      let row = y.slice(axis: 0, r..<(r + 1)).scalars.map(Double.init)
      let mean = row.reduce(0, +) / 6
      let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 6
      #expect(abs(mean) < 1e-6 && abs(variance - 1) < 1e-3)
    }
    let v = Variable(x, requiresGrad: true)
    ln(v).backward(gradient: GradCheck.input([3, 6], seed: 6))
    #expect(v.grad != nil && ln.weight.grad?.shape == [6] && ln.bias.grad?.shape == [6])
  }

  @Test func embeddingLayer() {
    var g = RandomGenerator(seed: 7)
    let emb = Embedding(count: 10, dimension: 4, generator: &g)
    #expect(emb.namedParameters.map(\.0) == ["weight"] && emb.weight.shape == [10, 4])
    let ids = IntTensor(shape: [2, 2], scalars: [9, 0, 9, 3])
    let out = emb(ids)
    #expect(out.shape == [2, 2, 4])
    #expect(out.value.slice(axis: 0, 0..<1).reshaped([2, 4]).slice(axis: 0, 0..<1).scalars
            == emb.weight.value.slice(axis: 0, 9..<10).scalars)
    out.sum().backward()
    #expect(emb.weight.grad!.sum(axis: 1).scalars == [4, 0, 0, 4, 0, 0, 0, 0, 0, 8])
  }
}
