import Foundation
import Tensor

extension Variable {
  /// eˣ elementwise.
  public func exp() -> Variable {
    let y = value.unary(.exp)
    return Variable.record(y, operation: "exp", inputs: [self]) { g in [g * y] }
  }

  /// Natural logarithm elementwise.
  public func log() -> Variable {
    let x = value
    return Variable.record(x.unary(.log), operation: "log", inputs: [self]) { g in [g / x] }
  }

  /// tanh elementwise.
  public func tanh() -> Variable {
    let y = value.unary(.tanh)
    return Variable.record(y, operation: "tanh", inputs: [self]) { g in [g * (1 - (y * y))] }
  }

  /// √x elementwise.
  public func sqrt() -> Variable {
    let y = value.unary(.sqrt)
    return Variable.record(y, operation: "sqrt", inputs: [self]) { g in [g / y.scaled(2)] }
  }

  /// xᵖ elementwise.
  public func pow(_ p: Float) -> Variable {
    let x = value
    return Variable.record(x.pow(p), operation: "pow", inputs: [self]) { g in [g * x.pow(p - 1).scaled(p)] }
  }

  /// x² elementwise.
  public func square() -> Variable {
    let x = value
    return Variable.record(x.unary(.square), operation: "square", inputs: [self]) { g in [g * x.scaled(2)] }
  }

  /// |x| elementwise (subgradient 0 at 0).
  public func abs() -> Variable {
    let x = value
    return Variable.record(x.unary(.abs), operation: "abs", inputs: [self]) { g in
      [g * x.map { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }]
    }
  }

  /// max(x, 0) elementwise (gradient 0 at 0).
  public func relu() -> Variable {
    let y = value.unary(.relu)
    return Variable.record(y, operation: "relu", inputs: [self]) { g in [g * y.greater(than: 0)] }
  }

  /// Logistic sigmoid elementwise.
  public func sigmoid() -> Variable {
    let y = value.unary(.sigmoid)
    return Variable.record(y, operation: "sigmoid", inputs: [self]) { g in [g * (y * (1 - y))] }
  }

  /// GELU with the tanh approximation (fused forward/backward kernel).
  public func gelu() -> Variable {
    let x = value
    guard GradMode.isEnabled && requiresGrad else { return Variable(x.unary(.gelu)) }
    // Saves gelu′(x): the backward is one product and keeps neither x nor an exponential.
    let (y, derivative) = x.geluSavingDerivative()
    return Variable.record(y, operation: "gelu", inputs: [self]) { g in [g * derivative] }
  }

  /// Clamps to [lower, upper]; the gradient passes where the input lies inside the interval.
  public func clamped(min lower: Float = -.infinity, max upper: Float = .infinity) -> Variable {
    let x = value
    return Variable.record(x.clamped(min: lower, max: upper), operation: "clamp", inputs: [self]) { g in
      [g * x.map { $0 >= lower && $0 <= upper ? 1 : 0 }]
    }
  }

  /// `condition ? self : other` elementwise (condition nonzero = true; constant).
  public func whereMask(_ condition: Tensor, else other: Variable) -> Variable {
    let (sa, sb) = (shape, other.shape)
    let out = value.whereMask(condition, else: other.value)
    let zero = Tensor(zeros: [1])
    return Variable.record(out, operation: "where", inputs: [self, other]) { g in
      [self.requiresGrad ? g.whereMask(condition, else: zero).sumToShape(sa) : nil,
       other.requiresGrad ? zero.whereMask(condition, else: g).sumToShape(sb) : nil]
    }
  }

  /// Multiplies by a constant mask (broadcasting); gradients are masked the same way.
  public func masked(by mask: Tensor) -> Variable {
    let s = shape
    return Variable.record(value * mask, operation: "mask", inputs: [self]) { g in [(g * mask).sumToShape(s)] }
  }
}
