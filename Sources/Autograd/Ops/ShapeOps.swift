import Tensor

extension Variable {
  /// The same values with another shape (one dimension may be -1).
  public func reshaped(_ newShape: [Int]) -> Variable {
    let s = shape
    return Variable.record(value.reshaped(newShape), operation: "reshape", inputs: [self]) { g in [g.reshaped(s)] }
  }

  /// Axes reordered: result axis i is input axis `axes[i]`.
  public func permuted(_ axes: [Int]) -> Variable {
    var inverse = [Int](repeating: 0, count: axes.count)
    for (i, a) in axes.enumerated() { inverse[a] = i }
    return Variable.record(value.permuted(axes), operation: "permute", inputs: [self]) { g in [g.permuted(inverse)] }
  }

  /// Two axes swapped (default: the last two).
  public func transposed(_ a: Int = -2, _ b: Int = -1) -> Variable {
    var axes = Array(0..<rank)
    axes.swapAt(Shape.axis(a, rank: rank), Shape.axis(b, rank: rank))
    return permuted(axes)
  }

  /// Elements `range` along `axis`; the gradient is zero elsewhere.
  public func slice(axis: Int, _ range: Range<Int>) -> Variable {
    let s = shape
    let ax = Shape.axis(axis, rank: rank)
    return Variable.record(value.slice(axis: ax, range), operation: "slice", inputs: [self]) { g in
      var full = Tensor(zeros: s)
      full.assignSlice(axis: ax, start: range.lowerBound, g)
      return [full]
    }
  }

  /// Joins along `axis`.
  public static func concatenate(_ parts: [Variable], axis: Int) -> Variable {
    precondition(!parts.isEmpty, "concatenate needs at least one variable")
    let ax = Shape.axis(axis, rank: parts[0].rank)
    let sizes = parts.map { $0.shape[ax] }
    return record(Tensor.concatenate(parts.map(\.value), axis: ax), operation: "concatenate", inputs: parts) { g in
      g.split(axis: ax, sizes: sizes).map { Optional($0) }
    }
  }

  /// Stacks equal-shaped variables along a new axis.
  public static func stack(_ parts: [Variable], axis: Int = 0) -> Variable {
    precondition(!parts.isEmpty, "stack needs at least one variable")
    let r = parts[0].rank
    let ax = axis < 0 ? axis + r + 1 : axis
    var expanded = parts[0].shape
    expanded.insert(1, at: ax)
    return concatenate(parts.map { $0.reshaped(expanded) }, axis: ax)
  }

  /// Pieces of the given sizes along `axis`.
  public func split(axis: Int, sizes: [Int]) -> [Variable] {
    var start = 0
    return sizes.map { n in
      defer { start += n }
      return slice(axis: axis, start..<(start + n))
    }
  }

  /// Broadcast to `newShape` (materialised); the gradient is summed back.
  public func expanded(to newShape: [Int]) -> Variable {
    let s = shape
    return Variable.record(value.expanded(to: newShape), operation: "expand", inputs: [self]) { g in [g.sumToShape(s)] }
  }
}
