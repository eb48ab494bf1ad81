import Tensor

extension Variable {
  /// Sum of all elements (a scalar of shape []).
  public func sum() -> Variable {
    let s = shape
    return Variable.record(Tensor(scalar: value.sum()), operation: "sum", inputs: [self]) { g in
      [Tensor(shape: s, repeating: g.scalar)]
    }
  }

  /// Mean of all elements.
  public func mean() -> Variable {
    let s = shape, n = Float(value.count)
    return Variable.record(Tensor(scalar: value.mean()), operation: "mean", inputs: [self]) { g in
      [Tensor(shape: s, repeating: g.scalar / n)]
    }
  }

  /// Sum over `axis`.
  public func sum(axis: Int, keepDims: Bool = false) -> Variable {
    sum(axes: [axis], keepDims: keepDims)
  }

  /// Sum over several axes.
  public func sum(axes: [Int], keepDims: Bool = false) -> Variable {
    let s = shape
    let kept = s.enumerated().map { axes.map { Shape.axis($0, rank: s.count) }.contains($0.offset) ? 1 : $0.element }
    return Variable.record(value.sum(axes: axes, keepDims: keepDims), operation: "sum_axes", inputs: [self]) { g in
      [g.reshaped(kept).expanded(to: s)]
    }
  }

  /// Mean over `axis`.
  public func mean(axis: Int, keepDims: Bool = false) -> Variable { mean(axes: [axis], keepDims: keepDims) }

  /// Mean over several axes.
  public func mean(axes: [Int], keepDims: Bool = false) -> Variable {
    let n = Set(axes.map { Shape.axis($0, rank: rank) }).reduce(1) { $0 * shape[$1] }
    return sum(axes: axes, keepDims: keepDims) * (1 / Float(n))
  }

  /// Largest value along `axis`; the gradient goes to the first maximal element.
  public func max(axis: Int, keepDims: Bool = false) -> Variable {
    let ax = Shape.axis(axis, rank: rank)
    let (vals, idx) = value.maxWithIndices(axis: ax, keepDims: true)
    let s = shape
    var outShape = s
    if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
    return Variable.record(vals.reshaped(outShape), operation: "max", inputs: [self]) { g in
      [Tensor(zeros: s).scatterAdd(axis: ax, idx, g.reshaped(idx.shape))]
    }
  }

  /// Softmax along the last axis.
  public func softmax() -> Variable {
    let y = value.softmax()
    return Variable.record(y, operation: "softmax", inputs: [self]) { g in
      let dot = (g * y).sum(axis: -1, keepDims: true)
      return [y * (g - dot)]
    }
  }

  /// Log-softmax along the last axis.
  public func logSoftmax() -> Variable {
    let y = value.logSoftmax()
    return Variable.record(y, operation: "log_softmax", inputs: [self]) { g in
      let total = g.sum(axis: -1, keepDims: true)
      return [g - y.unary(.exp) * total]
    }
  }

  /// Euclidean norm along `axis` (gradient x/‖x‖, 0 where the norm is 0).
  public func l2Norm(axis: Int, keepDims: Bool = false) -> Variable {
    let x = value
    let ax = Shape.axis(axis, rank: rank)
    let n = x.norm(axis: ax, p: 2, keepDims: true)
    var outShape = shape
    if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
    return Variable.record(n.reshaped(outShape), operation: "l2_norm", inputs: [self]) { g in
      let safe = n.map { $0 == 0 ? Float.infinity : $0 }
      return [x * (g.reshaped(n.shape) / safe)]
    }
  }
}
