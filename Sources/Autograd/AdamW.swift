import Foundation
import Tensor

/// AdamW (decoupled weight decay) as in PyTorch: for each parameter with gradient g at step t,
/// p ← p·(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
/// Parameters are grouped by weight decay. As in PyTorch, each parameter counts its own steps t (a step in
/// which it has no gradient does not advance it).
public final class AdamW {
  /// A set of parameters sharing one weight decay.
  public struct Group {
    public var parameters: [Variable]
    public var weightDecay: Float
    public init(parameters: [Variable], weightDecay: Float) {
      self.parameters = parameters
      self.weightDecay = weightDecay
    }
  }

  public var groups: [Group]
  public var learningRate: Float
  public var beta1: Float
  public var beta2: Float
  public var eps: Float
  /// Number of completed `step()` calls.
  public private(set) var stepCount = 0
  /// Steps taken by each parameter (the t of its bias correction).
  var parameterSteps: [ObjectIdentifier: Int] = [:]
  var firstMoments: [ObjectIdentifier: Tensor] = [:]
  var secondMoments: [ObjectIdentifier: Tensor] = [:]

  public init(groups: [Group], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8) {
    self.groups = groups
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.eps = eps
  }

  /// Every parameter in group order.
  public var parameters: [Variable] { groups.flatMap { $0.parameters } }

  /// One update of every parameter that has a gradient.
  public func step() {
    stepCount += 1
    let lr = learningRate, b1 = beta1, b2 = beta2, eps = eps
    for group in groups {
      let decay = 1 - lr * group.weightDecay
      for p in group.parameters {
        guard let g = p.grad else { continue }
        let id = ObjectIdentifier(p)
        let t = (parameterSteps[id] ?? 0) + 1
        parameterSteps[id] = t
        let bc1 = Float(1 - Foundation.pow(Double(b1), Double(t))), bc2 = Float(1 - Foundation.pow(Double(b2), Double(t)))
        var m = firstMoments[id] ?? Tensor(zeros: p.shape)
        var v = secondMoments[id] ?? Tensor(zeros: p.shape)
        firstMoments[id] = nil
        secondMoments[id] = nil
        let pm = m.unsafeMutablePointer(), pv = v.unsafeMutablePointer()
        p.updateValue { value in
          let pp = value.unsafeMutablePointer()
          withExtendedLifetime(g) {
            let pg = g.unsafePointer
            Parallel.forRanges(value.count, grain: 1 << 15) { r in
              for i in r {
                let gi = pg[i]
                pp[i] *= decay
                pm[i] = b1 * pm[i] + (1 - b1) * gi
                pv[i] = b2 * pv[i] + (1 - b2) * gi * gi
                let mh = pm[i] / bc1, vh = pv[i] / bc2
                pp[i] -= lr * mh / (vh.squareRoot() + eps)
              }
            }
          }
        }
        firstMoments[id] = m
        secondMoments[id] = v
      }
    }
  }

  /// The optimizer state as named tensors, keyed by the position of each parameter in `parameters`
  /// (`m.{i}`, `v.{i}`, and its step count `t.{i}`) plus the global `step`; used for resume files.
  public func stateTensors() -> [String: Tensor] {
    var out: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
    for (i, p) in parameters.enumerated() {
      let id = ObjectIdentifier(p)
      if let m = firstMoments[id], let v = secondMoments[id] {
        out["m.\(i)"] = m
        out["v.\(i)"] = v
        out["t.\(i)"] = Tensor(scalar: Float(parameterSteps[id] ?? stepCount))
      }
    }
    return out
  }

  /// Restores state written by `stateTensors()` for the same parameter list.
  public func loadState(_ state: [String: Tensor]) throws {
    guard let s = state["step"], s.count == 1 else { throw OptimizerStateError("optimizer state has no step count") }
    let params = parameters
    var m: [ObjectIdentifier: Tensor] = [:], v: [ObjectIdentifier: Tensor] = [:], t: [ObjectIdentifier: Int] = [:]
    for (i, p) in params.enumerated() {
      switch (state["m.\(i)"], state["v.\(i)"]) {
      case let (mi?, vi?):
        guard mi.shape == p.shape, vi.shape == p.shape else {
          throw OptimizerStateError("optimizer moments for parameter \(i) have shape \(mi.shape), expected \(p.shape)")
        }
        m[ObjectIdentifier(p)] = mi
        v[ObjectIdentifier(p)] = vi
        t[ObjectIdentifier(p)] = state["t.\(i)"].map { Int($0.scalar) } ?? Int(s.scalar)
      case (nil, nil): continue
      default: throw OptimizerStateError("optimizer state for parameter \(i) is incomplete")
      }
    }
    let extra = state.keys.filter { $0 != "step" && !($0.hasPrefix("m.") || $0.hasPrefix("v.") || $0.hasPrefix("t.")) }
    guard extra.isEmpty else { throw OptimizerStateError("unexpected optimizer state entries: \(extra.sorted())") }
    firstMoments = m
    secondMoments = v
    parameterSteps = t
    stepCount = Int(s.scalar)
  }
}

/// A resume file's optimizer state does not fit the parameters.
public struct OptimizerStateError: Error, CustomStringConvertible {
  public var description: String
  public init(_ d: String) { description = d.onOneLine }
}

/// Global gradient-norm clipping as PyTorch's `clip_grad_norm_`: the norm over all gradients together;
/// when it exceeds `maxNorm`, every gradient is scaled by maxNorm / (norm + 1e-6). Returns the pre-clip norm.
@discardableResult
public func clipGradNorm(_ parameters: [Variable], maxNorm: Float) -> Float {
  var total: Double = 0
  for p in parameters {
    guard let g = p.grad else { continue }
    g.withUnsafeBufferPointer { b in
      var acc: Double = 0  // Double: a Float running sum drifts by ~1e-2 relative over millions of entries
      for x in b { acc += Double(x) * Double(x) }
      total += acc
    }
  }
  let norm = Float(total.squareRoot())
  let coef = maxNorm / (norm + 1e-6)
  if coef < 1 {
    for p in parameters where p.grad != nil { p.grad!.scaleInPlace(coef) }
  }
  return norm
}
