import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Experiments

/// The hand-written path forward equals the GPT modules, for stacked sequences longer than one attention
/// row block.
@Suite struct PathWeightsTests {
  @Test(arguments: [SAEPlacement.transformerBlock, .ffLayer, .ffBlock])
  func forwardMatchesModules(placement: SAEPlacement) throws {
    let gpt = try TestModels.gpt(seed: 71, norm: placement == .ffBlock ? .dynamicTanh : .layerNorm, block: 80)
    let keys = placement.pair(layer: 1)
    let pair = try CircuitPair(placement: placement, layer: 1,
                               upstream: StubJumpReLUSAE(key: keys.upstream, features: 8, embedding: 8, seed: 1),
                               downstream: StubJumpReLUSAE(key: keys.downstream, features: 8, embedding: 8, seed: 2), gpt: gpt)
    let weights = try PathWeights(pair: pair)
    var g = RandomGenerator(seed: 72)
    let x = Tensor.normal([3, 70, 8], generator: &g)
    let expected = withNoGrad { pair.path(Variable(x)).value }
    let ws = PathWorkspace()
    x.withUnsafeBufferPointer { ws.x.reserve(x.count).update(from: $0.baseAddress!, count: x.count) }
    weights.forward(ws, rows: 3 * 70, length: 70)
    let got = Tensor(shape: [3, 70, 8], scalars: Array(UnsafeBufferPointer(start: ws.y.pointer, count: x.count)))
    #expect(got.maxAbsDifference(expected) < 1e-4 * Swift.max(1, expected.unary(.abs).max()))
  }
}
