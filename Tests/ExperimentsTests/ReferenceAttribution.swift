import Autograd
import Foundation
import GPT
import SAE
import Tensor
@testable import Experiments

/// Straightforward implementations of the spec's definitions, one target (or one ablation) at a time, with
/// autograd through the ordinary modules — the slow reference the fast code is checked against.
enum ReferenceAttribution {
  /// Integrated gradients exactly as spec section 9 defines them: for every target j separately, for every
  /// α, one backward pass of Σ_{rows, positions} f₁_j through decode → path → encode.
  static func integratedGradients(_ pair: CircuitPair, tokens: IntTensor, steps: Int) throws -> Tensor {
    let acts = try pair.gpt.activations(tokens, at: [pair.upstreamKey])
    let x = acts[pair.upstreamKey]!
    let f0 = withNoGrad { pair.upstream.encode(Variable(x)).value }  // [B, T, F0]
    let base = pair.upstream.attributionBaseline(f0)
    let stepLength = (f0 - base).norm(axis: -1, keepDims: true) / Float(steps)  // [B, T, 1]
    let alphas = IntegratedGradientsAttributor.linspace(steps)
    let fUp = pair.upstream.featureCount, fDown = pair.downstream.featureCount
    var out = Tensor(zeros: [fUp, fDown])
    for j in 0..<fDown {
      var integral = Tensor(zeros: f0.shape)
      for alpha in alphas {
        let z = Variable(f0 * alpha + base * (1 - alpha), requiresGrad: true)
        let f1 = pair.downstream.encode(pair.path(pair.upstream.decode(z)))
        var seed = Tensor(zeros: f1.shape)
        let ps = seed.unsafeMutablePointer()
        for r in 0..<(seed.count / fDown) { ps[r * fDown + j] = 1 }
        f1.backward(gradient: seed)
        integral += z.grad! * stepLength
      }
      let squares = (integral * integral).sum(axes: [0, 1])  // [F0]
      for i in 0..<fUp { out[i, j] = squares[i].squareRoot() }
    }
    return out
  }

  /// Manual ablation as defined: for every row, position and upstream feature with f₀ > ε, zero that one
  /// magnitude, run decode → path → encode on the row, and add Σ_positions |f₁(ablated) − f₁(unablated)|
  /// into row i.
  static func manualAblation(_ pair: CircuitPair, tokens: IntTensor, epsilon: Float) throws -> Tensor {
    let acts = try pair.gpt.activations(tokens, at: [pair.upstreamKey])
    let f0 = withNoGrad { pair.upstream.encode(Variable(acts[pair.upstreamKey]!)).value }  // [B, T, F0]
    let b = f0.shape[0], t = f0.shape[1], fUp = f0.shape[2], fDown = pair.downstream.featureCount
    func downstream(_ z: Tensor) -> Tensor {
      withNoGrad { pair.downstream.encode(pair.path(pair.upstream.decode(Variable(z)))).value }
    }
    var out = Tensor(zeros: [fUp, fDown])
    for row in 0..<b {
      let z = f0.slice(axis: 0, row..<(row + 1))  // [1, T, F0]
      let clean = downstream(z)
      for pos in 0..<t {
        for i in 0..<fUp where z[0, pos, i] > epsilon {
          var ablated = z
          ablated[0, pos, i] = 0
          let delta = (downstream(ablated) - clean).unary(.abs).sum(axes: [0, 1])  // [F1]
          for j in 0..<fDown { out[i, j] += delta[j] }
        }
      }
    }
    return out
  }
}

/// The pruned forward written out directly with the ordinary modules (spec section 9).
enum ReferencePruning {
  /// Downstream magnitudes [P, T, F_down] keeping `edges` (flat indices i·F_down + j): per group of
  /// downstream features with equal parents, zero every other upstream magnitude (all positions), decode,
  /// run the path, take the group's `ablationPreActivation`; 0 without kept edges; TopK with the downstream k.
  static func magnitudes(_ pair: CircuitPair, prompts: IntTensor, edges: [Int32]) throws -> Tensor {
    let acts = try pair.gpt.activations(prompts, at: [pair.upstreamKey])
    let f0 = withNoGrad { pair.upstream.encode(Variable(acts[pair.upstreamKey]!)).value }
    let fUp = pair.upstream.featureCount, fDown = pair.downstream.featureCount
    var parents = [Set<Int>](repeating: [], count: fDown)
    for e in edges { parents[Int(e) % fDown].insert(Int(e) / fDown) }
    var groups: [Set<Int>: [Int]] = [:]
    for j in 0..<fDown where !parents[j].isEmpty { groups[parents[j], default: []].append(j) }
    let p = prompts.shape[0], t = prompts.shape[1]
    var out = Tensor(zeros: [p, t, fDown])
    for (set, features) in groups {
      let mask = Tensor((0..<fUp).map { set.contains($0) ? 1 : 0 })
      let pre = withNoGrad { pair.downstream.ablationPreActivation(pair.path(pair.upstream.decode(Variable(f0 * mask)))).value }
      for r in 0..<p { for s in 0..<t { for j in features { out[r, s, j] = pre[r, s, j] } } }
    }
    if let k = pair.downstream.topK {
      for r in 0..<p {
        for s in 0..<t {
          let row = (0..<fDown).map { out[r, s, $0] }
          let kth = row.sorted(by: >)[k - 1]
          for j in 0..<fDown where row[j] < kth { out[r, s, j] = 0 }
        }
      }
    }
    return out
  }
}
