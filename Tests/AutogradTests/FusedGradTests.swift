import Foundation
import Testing
import Tensor
import Autograd

/// Gradient checks of the fused operations, and each fused op against its composition from primitives.
@Suite struct FusedGradTests {
  // MARK: compositions from primitives

  static func composedLayerNorm(_ x: Variable, _ w: Variable, _ b: Variable, eps: Float = 1e-5) -> Variable {
    let mean = x.mean(axis: -1, keepDims: true)
    let xc = x - mean
    let variance = (xc * xc).mean(axis: -1, keepDims: true)  // biased
    return xc / (variance + eps).sqrt() * w + b
  }

  /// Explicit masked-softmax attention: split q, k, v, heads first, scores, causal mask, softmax, ·v.
  static func composedAttention(_ qkv: Variable, heads: Int) -> Variable {
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, hs = c / heads
    let parts = qkv.split(axis: 2, sizes: [c, c, c])
    func headsFirst(_ v: Variable) -> Variable { v.reshaped([b, t, heads, hs]).permuted([0, 2, 1, 3]) }  // [B, H, T, hs]
    let q = headsFirst(parts[0]), k = headsFirst(parts[1]), v = headsFirst(parts[2])
    let scores = Variable.matmul(q, k, transposeB: true) * (1 / Float(hs).squareRoot())  // [B, H, T, T]
    var causal = Tensor.zeros([t, t])
    for i in 0..<t { for j in 0...i { causal[i, j] = 1 } }
    let masked = scores.whereMask(causal, else: Variable(Tensor(scalar: -1e9)))
    let y = Variable.matmul(masked.softmax(), v)  // [B, H, T, hs]
    return y.permuted([0, 2, 1, 3]).reshaped([b, t, c])
  }

  static func composedCrossEntropy(_ logits: Variable, _ targets: IntTensor) -> Variable {
    let picked = logits.logSoftmax().gather(axis: -1, targets.reshaped(targets.shape + [1]))
    return -picked.mean()
  }

  static func randomTargets(_ shape: [Int], classes: Int, seed: UInt64) -> IntTensor {
    var g = RandomGenerator(seed: seed)
    return IntTensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int32(g.nextInt(below: classes)) })
  }

  // MARK: layer norm

  @Test func layerNorm() {
    let x = GradCheck.input([2, 3, 8], seed: 61, low: -2, high: 2)
    let w = GradCheck.input([8], seed: 62, low: 0.5, high: 1.5), b = GradCheck.input([8], seed: 63)
    GradCheck.expect("layerNorm", [x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
    GradCheck.expect("layerNorm wrt x only", [x, w, b], wrt: [0]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
    GradCheck.expect("layerNorm eps 0.1", [x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2], eps: 0.1) }
  }

  @Test func layerNormMatchesComposition() {
    let x = GradCheck.input([3, 4, 16], seed: 64, low: -3, high: 3)
    let w = GradCheck.input([16], seed: 65, low: 0.5, high: 1.5), b = GradCheck.input([16], seed: 66)
    GradCheck.expectSame("layerNorm vs mean/var composition", [x, w, b],
                         fused: { $0[0].layerNorm(weight: $0[1], bias: $0[2]) },
                         composed: { FusedGradTests.composedLayerNorm($0[0], $0[1], $0[2]) })
  }

  // MARK: feed-forward

  @Test func feedForward() {
    let x = GradCheck.input([2, 3, 4], seed: 71, low: -2, high: 2)
    let w1 = GradCheck.input([16, 4], seed: 72), b1 = GradCheck.input([16], seed: 73)
    let w2 = GradCheck.input([4, 16], seed: 74), b2 = GradCheck.input([4], seed: 75)
    GradCheck.expect("feedForward", [x, w1, b1, w2, b2]) {
      $0[0].feedForward(fcWeight: $0[1], fcBias: $0[2], projWeight: $0[3], projBias: $0[4])
    }
    GradCheck.expect("feedForward wrt x only", [x, w1, b1, w2, b2], wrt: [0]) {
      $0[0].feedForward(fcWeight: $0[1], fcBias: $0[2], projWeight: $0[3], projBias: $0[4])
    }
    GradCheck.expect("feedForward wrt weights only", [x, w1, b1, w2, b2], wrt: [1, 3]) {
      $0[0].feedForward(fcWeight: $0[1], fcBias: $0[2], projWeight: $0[3], projBias: $0[4])
    }
    GradCheck.expect("feedForward without biases", [x, w1, w2]) {
      $0[0].feedForward(fcWeight: $0[1], fcBias: nil, projWeight: $0[2], projBias: nil)
    }
  }

  @Test func feedForwardMatchesComposition() {
    let x = GradCheck.input([3, 70, 8], seed: 76, low: -3, high: 3)
    let w1 = GradCheck.input([32, 8], seed: 77), b1 = GradCheck.input([32], seed: 78)
    let w2 = GradCheck.input([8, 32], seed: 79), b2 = GradCheck.input([8], seed: 80)
    // the weight gradients sum 210 rows in another order (per block, then per chunk): round-off apart
    GradCheck.expectSame("feedForward vs linear/gelu/linear", [x, w1, b1, w2, b2], tolerance: 1e-4,
                         fused: { $0[0].feedForward(fcWeight: $0[1], fcBias: $0[2], projWeight: $0[3], projBias: $0[4]) },
                         composed: { Variable.linear(Variable.linear($0[0], weight: $0[1], bias: $0[2]).gelu(),
                                                     weight: $0[3], bias: $0[4]) })
  }

  /// A layer too wide for the fused blocks (`FeedForwardKernel.suits`) takes the differentiable composition.
  @Test func wideFeedForwardMatchesComposition() {
    let x = GradCheck.input([2, 3, 128], seed: 81)
    let w1 = GradCheck.input([600, 128], seed: 82), b1 = GradCheck.input([600], seed: 83)
    let w2 = GradCheck.input([128, 600], seed: 84), b2 = GradCheck.input([128], seed: 85)
    #expect(!FeedForwardKernel.suits(inFeatures: 128, hidden: 600))
    GradCheck.expectSame("wide feedForward vs linear/gelu/linear", [x, w1, b1, w2, b2], tolerance: 1e-4,
                         fused: { $0[0].feedForward(fcWeight: $0[1], fcBias: $0[2], projWeight: $0[3], projBias: $0[4]) },
                         composed: { Variable.linear(Variable.linear($0[0], weight: $0[1], bias: $0[2]).gelu(),
                                                     weight: $0[3], bias: $0[4]) })
  }

  // MARK: attention

  @Test(arguments: [(2, 5, 2, 4), (1, 9, 3, 6), (1, 34, 2, 2)])
  func causalSelfAttention(b: Int, t: Int, heads: Int, c: Int) {
    let qkv = GradCheck.input([b, t, 3 * c], seed: UInt64(67 + t), low: -1.5, high: 1.5)
    GradCheck.expect("attention B\(b) T\(t) H\(heads) C\(c)", [qkv]) { $0[0].causalSelfAttention(heads: heads) }
  }

  @Test func attentionWithoutGradientRecordsNothingAndGivesTheSameValue() {
    let qkv = Variable(GradCheck.input([2, 40, 24], seed: 73, low: -2, high: 2), requiresGrad: true)
    let recorded = qkv.causalSelfAttention(heads: 2)
    let plain = withNoGrad { qkv.causalSelfAttention(heads: 2) }
    #expect(!recorded.isLeaf && plain.isLeaf)
    #expect(plain.value.scalars.map(\.bitPattern) == recorded.value.scalars.map(\.bitPattern))
  }

  @Test(arguments: [(2, 5, 2, 8), (1, 40, 2, 8), (2, 3, 1, 4)])
  func attentionMatchesComposition(b: Int, t: Int, heads: Int, c: Int) {
    let qkv = GradCheck.input([b, t, 3 * c], seed: 70, low: -2, high: 2)
    GradCheck.expectSame("attention vs masked softmax composition B\(b) T\(t) H\(heads)", [qkv],
                         fused: { $0[0].causalSelfAttention(heads: heads) },
                         composed: { FusedGradTests.composedAttention($0[0], heads: heads) })
  }

  // MARK: cross-entropy

  @Test func crossEntropy() {
    let logits = GradCheck.input([2, 3, 7], seed: 71, low: -3, high: 3)
    let targets = FusedGradTests.randomTargets([2, 3], classes: 7, seed: 72)
    GradCheck.expect("crossEntropy", [logits]) { $0[0].crossEntropy(targets: targets) }
    GradCheck.expect("crossEntropy 2-D", [logits.reshaped([6, 7])]) { $0[0].crossEntropy(targets: targets.reshaped([6])) }
  }

  @Test func crossEntropyMatchesComposition() {
    let logits = GradCheck.input([4, 5, 11], seed: 73, low: -4, high: 4)
    let targets = FusedGradTests.randomTargets([4, 5], classes: 11, seed: 74)
    GradCheck.expectSame("crossEntropy vs logSoftmax+gather", [logits], tolerance: 1e-6,
                         fused: { $0[0].crossEntropy(targets: targets) },
                         composed: { FusedGradTests.composedCrossEntropy($0[0], targets) })
  }

  // MARK: embedding

  @Test func embedding() {
    let table = GradCheck.input([6, 4], seed: 75)
    let ids = IntTensor(shape: [2, 3], scalars: [5, 0, 5, 2, 2, 5])  // repeated ids accumulate
    GradCheck.expect("embedding", [table]) { Variable.embedding($0[0], ids) }
    GradCheck.expectSame("embedding vs indexSelect", [table], tolerance: 0,
                         fused: { Variable.embedding($0[0], ids) }, composed: { $0[0].indexSelect(axis: 0, ids) })
    let v = Variable(table, requiresGrad: true)
    Variable.embedding(v, ids).sum().backward()
    #expect(v.grad!.sum(axis: 1).scalars == [4, 0, 8, 0, 0, 12])  // row counts 1, 0, 2, 0, 0, 3 times 4 columns
  }

  // MARK: a small network end to end

  @Test func mlpWithLossEndToEnd() {
    let x = GradCheck.input([2, 3, 4], seed: 76)
    let w1 = GradCheck.input([8, 4], seed: 77), b1 = GradCheck.input([8], seed: 78)
    let w2 = GradCheck.input([5, 8], seed: 79), lw = GradCheck.input([8], seed: 80, low: 0.5, high: 1.5)
    let lb = GradCheck.input([8], seed: 81)
    let targets = FusedGradTests.randomTargets([2, 3], classes: 5, seed: 82)
    GradCheck.expect("mlp + layerNorm + crossEntropy", [x, w1, b1, w2, lw, lb]) { p in
      let h = Variable.linear(p[0], weight: p[1], bias: p[2]).gelu().layerNorm(weight: p[4], bias: p[5])
      return Variable.linear(h, weight: p[3], bias: nil).crossEntropy(targets: targets)
    }
  }
}
