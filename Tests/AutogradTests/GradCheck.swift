import Foundation
import Testing
import Tensor
import Autograd

/// Finite-difference gradient checker for functions of `Variable`s.
///
/// Scheme: the checked scalar is L(x) = Σ f(x) ⊙ R with a fixed random upstream R, summed in Double from
/// the Float forward. Inputs are quantised to multiples of 2⁻¹² and perturbed by ±h, ±2h with h a power
/// of two, so every perturbed input is exactly representable and the step is exact. The derivative is the
/// fourth-order central stencil (8(L(h) − L(−h)) − (L(2h) − L(−2h))) / 12h, whose truncation error
/// (∝ h⁴) is far below Float32 round-off for the smooth ops checked. The analytic gradient comes from
/// `backward(gradient: R)`. Each element passes when |num − ana| ≤ atol·max(1, max|num|) + rtol·|num|,
/// and the whole gradient when ‖num − ana‖ ≤ l2tol·‖num‖ (or ≤ atol when ‖num‖ is tiny).
enum GradCheck {
  /// Errors of one gradient check, over all checked inputs.
  struct Report: CustomStringConvertible {
    var name: String
    var maxAbsError: Double = 0
    var maxRelError: Double = 0
    var relativeL2Error: Double = 0
    var checkedElements = 0
    var failures: [String] = []
    var passed: Bool { failures.isEmpty }
    var description: String {
      String(format: "gradcheck %@: %d elements, max abs err %.2e, max rel err %.2e, rel L2 err %.2e",
             name, checkedElements, maxAbsError, maxRelError, relativeL2Error)
    }
  }

  /// Default step: 2⁻⁷.
  static let defaultStep: Float = 1.0 / 128

  /// Uniform values in [low, high) rounded to multiples of 2⁻¹² (exact under ±h, ±2h perturbation).
  static func input(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, generator: &g).map { ($0 * 4096).rounded() / 4096 }
  }

  /// Values with |x| in [minMagnitude, maxMagnitude) and random sign (away from kinks and poles at 0).
  static func awayFromZero(_ shape: [Int], seed: UInt64, minMagnitude: Float = 0.25, maxMagnitude: Float = 1.5) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: minMagnitude, high: maxMagnitude, generator: &g).map {
      let q = ($0 * 4096).rounded() / 4096
      return g.nextUniform() < 0.5 ? -q : q
    }
  }

  /// A distinct, well separated permutation of values: entries of each last-axis row differ by ≥ `gap`.
  static func separated(_ shape: [Int], seed: UInt64, gap: Float = 0.125) -> Tensor {
    let n = shape.last!
    var g = RandomGenerator(seed: seed)
    var out: [Float] = []
    for _ in 0..<(shape.reduce(1, *) / n) {
      var row = (0..<n).map { Float($0) * gap - Float(n) * gap / 2 }
      g.shuffle(&row)
      out += row
    }
    return Tensor(shape: shape, scalars: out)
  }

  /// Σ value ⊙ r in Double.
  static func weightedSum(_ value: Tensor, _ r: Tensor) -> Double {
    precondition(value.shape == r.shape, "output shape \(value.shape) changed (expected \(r.shape))")
    let v = value.scalars, w = r.scalars
    var acc = 0.0
    for i in 0..<v.count { acc += Double(v[i]) * Double(w[i]) }
    return acc
  }

  /// Runs the check and returns its report without recording issues (see `expect` for the test form).
  static func run(_ name: String, _ inputs: [Tensor], wrt: Set<Int>? = nil, seed: UInt64 = 1234,
                  h: Float = defaultStep, rtol: Double = 2e-3, atol: Double = 2e-4, l2tol: Double = 1e-3,
                  _ f: ([Variable]) -> Variable) -> Report {
    let checked = wrt ?? Set(inputs.indices)
    var report = Report(name: name)

    // Analytic gradient with a random upstream R.
    let vars = inputs.enumerated().map { Variable($0.element, requiresGrad: checked.contains($0.offset)) }
    let out = f(vars)
    var g = RandomGenerator(seed: seed)
    let r = Tensor.normal(out.shape, generator: &g)
    out.backward(gradient: r)

    func loss(_ xs: [Tensor]) -> Double {
      withNoGrad { weightedSum(f(xs.map { Variable($0) }).value, r) }
    }

    for k in checked.sorted() {
      let x = inputs[k]
      guard let ana = vars[k].grad else {
        report.failures.append("input \(k): no gradient")
        continue
      }
      guard ana.shape == x.shape else {
        report.failures.append("input \(k): gradient shape \(ana.shape) for input \(x.shape)")
        continue
      }
      var num = [Double](repeating: 0, count: x.count)
      var xs = inputs
      for i in 0..<x.count {
        func at(_ step: Float) -> Double {
          var p = x
          p.withUnsafeMutableBufferPointer { $0[i] += step }
          xs[k] = p
          return loss(xs)
        }
        let d1 = at(h) - at(-h), d2 = at(2 * h) - at(-2 * h)
        num[i] = (8 * d1 - d2) / (12 * Double(h))
      }
      let a = ana.scalars.map(Double.init)
      let scale = max(1, num.map(Swift.abs).max() ?? 0)
      var diff2 = 0.0, norm2 = 0.0
      for i in 0..<num.count {
        let err = Swift.abs(num[i] - a[i])
        diff2 += err * err
        norm2 += num[i] * num[i]
        report.maxAbsError = max(report.maxAbsError, err)
        report.maxRelError = max(report.maxRelError, err / (Swift.abs(num[i]) + atol * scale))
        if err > atol * scale + rtol * Swift.abs(num[i]) && report.failures.count < 8 {
          report.failures.append("input \(k) element \(i) (of \(x.shape)): numeric \(num[i]) analytic \(a[i])")
        }
      }
      let rel = norm2 > atol * atol ? (diff2 / norm2).squareRoot() : diff2.squareRoot()
      report.relativeL2Error = max(report.relativeL2Error, rel)
      if rel > l2tol { report.failures.append("input \(k): relative L2 error \(rel)") }
      report.checkedElements += x.count
    }
    return report
  }

  /// Checks the gradients of `f` at `inputs` (all, or those in `wrt`) and records an issue on mismatch.
  @discardableResult
  static func expect(_ name: String, _ inputs: [Tensor], wrt: Set<Int>? = nil, seed: UInt64 = 1234,
                     h: Float = defaultStep, rtol: Double = 2e-3, atol: Double = 2e-4, l2tol: Double = 1e-3,
                     sourceLocation: SourceLocation = #_sourceLocation,
                     _ f: ([Variable]) -> Variable) -> Report {
    let report = run(name, inputs, wrt: wrt, seed: seed, h: h, rtol: rtol, atol: atol, l2tol: l2tol, f)
    print(report)
    #expect(report.passed, "\(report)\n\(report.failures.joined(separator: "\n"))", sourceLocation: sourceLocation)
    return report
  }

  /// Compares a fused op with its composition from primitives: values, and gradients for the same upstream.
  static func expectSame(_ name: String, _ inputs: [Tensor], wrt: Set<Int>? = nil, tolerance: Float = 2e-5,
                         sourceLocation: SourceLocation = #_sourceLocation,
                         fused: ([Variable]) -> Variable, composed: ([Variable]) -> Variable) {
    let checked = wrt ?? Set(inputs.indices)
    func grads(_ f: ([Variable]) -> Variable) -> (Tensor, [Tensor?]) {
      let vars = inputs.enumerated().map { Variable($0.element, requiresGrad: checked.contains($0.offset)) }
      let out = f(vars)
      var g = RandomGenerator(seed: 99)
      out.backward(gradient: Tensor.normal(out.shape, generator: &g))
      return (out.value, vars.map(\.grad))
    }
    let (v1, g1) = grads(fused), (v2, g2) = grads(composed)
    #expect(v1.shape == v2.shape, "\(name): value shapes \(v1.shape) vs \(v2.shape)", sourceLocation: sourceLocation)
    guard v1.shape == v2.shape else { return }
    var worst = v1.maxAbsDifference(v2)
    #expect(worst <= tolerance, "\(name): values differ by \(worst)", sourceLocation: sourceLocation)
    for k in checked.sorted() {
      guard let a = g1[k], let b = g2[k], a.shape == b.shape else {
        Issue.record("\(name): gradient \(k) missing or mis-shaped", sourceLocation: sourceLocation)
        continue
      }
      let d = a.maxAbsDifference(b)
      worst = max(worst, d)
      #expect(d <= tolerance, "\(name): gradient \(k) differs by \(d)", sourceLocation: sourceLocation)
    }
    print(String(format: "fused-vs-composed %@: max abs diff %.2e", name, worst))
  }
}
