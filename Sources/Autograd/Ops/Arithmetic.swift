import Tensor

extension Variable {
  /// Elementwise sum with broadcasting.
  public static func + (a: Variable, b: Variable) -> Variable {
    let (sa, sb) = (a.shape, b.shape)
    return record(a.value + b.value, operation: "add", inputs: [a, b]) { g in
      [a.requiresGrad ? g.sumToShape(sa) : nil, b.requiresGrad ? g.sumToShape(sb) : nil]
    }
  }

  /// Elementwise difference with broadcasting.
  public static func - (a: Variable, b: Variable) -> Variable {
    let (sa, sb) = (a.shape, b.shape)
    return record(a.value - b.value, operation: "sub", inputs: [a, b]) { g in
      [a.requiresGrad ? g.sumToShape(sa) : nil, b.requiresGrad ? (-g).sumToShape(sb) : nil]
    }
  }

  /// Elementwise product with broadcasting.
  public static func * (a: Variable, b: Variable) -> Variable {
    let (va, vb) = (a.value, b.value)
    return record(va * vb, operation: "mul", inputs: [a, b]) { g in
      [a.requiresGrad ? (g * vb).sumToShape(va.shape) : nil, b.requiresGrad ? (g * va).sumToShape(vb.shape) : nil]
    }
  }

  /// Elementwise quotient with broadcasting.
  public static func / (a: Variable, b: Variable) -> Variable {
    let (va, vb) = (a.value, b.value)
    return record(va / vb, operation: "div", inputs: [a, b]) { g in
      [a.requiresGrad ? (g / vb).sumToShape(va.shape) : nil,
       b.requiresGrad ? (-(g * va) / (vb * vb)).sumToShape(vb.shape) : nil]
    }
  }

  public static prefix func - (a: Variable) -> Variable {
    record(-a.value, operation: "neg", inputs: [a]) { g in [-g] }
  }

  public static func * (a: Variable, s: Float) -> Variable {
    record(a.value.scaled(s), operation: "scale", inputs: [a]) { g in [g.scaled(s)] }
  }
  public static func * (s: Float, a: Variable) -> Variable { a * s }
  public static func / (a: Variable, s: Float) -> Variable { a * (1 / s) }
  public static func + (a: Variable, s: Float) -> Variable {
    record(a.value.adding(s), operation: "add_scalar", inputs: [a]) { g in [g] }
  }
  public static func + (s: Float, a: Variable) -> Variable { a + s }
  public static func - (a: Variable, s: Float) -> Variable { a + (-s) }
  public static func - (s: Float, a: Variable) -> Variable { (-a) + s }
}

extension Tensor {
  /// This tensor as a constant graph leaf.
  public var asVariable: Variable { Variable(self) }
}
