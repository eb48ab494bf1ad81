import Tensor

extension Variable {
  /// Slices `indices` along `axis` (torch.index_select with any index shape).
  public func indexSelect(axis: Int, _ indices: IntTensor) -> Variable {
    let ax = Shape.axis(axis, rank: rank), n = shape[ax]
    return Variable.record(value.indexSelect(axis: ax, indices), operation: "index_select", inputs: [self]) { g in
      [g.indexAdd(axis: ax, indices, length: n)]
    }
  }

  /// torch.gather along `axis`.
  public func gather(axis: Int, _ indices: IntTensor) -> Variable {
    let ax = Shape.axis(axis, rank: rank), s = shape
    return Variable.record(value.gather(axis: ax, indices), operation: "gather", inputs: [self]) { g in
      [Tensor(zeros: s).scatterAdd(axis: ax, indices, g)]
    }
  }

  /// torch.scatter_add: self with `source` added at `indices` along `axis`.
  public func scatterAdd(axis: Int, _ indices: IntTensor, _ source: Variable) -> Variable {
    let ax = Shape.axis(axis, rank: rank)
    return Variable.record(value.scatterAdd(axis: ax, indices, source.value), operation: "scatter_add",
                           inputs: [self, source]) { g in
      [g, source.requiresGrad ? g.gather(axis: ax, indices) : nil]
    }
  }

  /// Keeps the entries of each last-axis row that are ≥ the row's k-th largest value (ties keep more than
  /// k) and zeroes the rest; the gradient flows to kept entries only. Also returns the k top-k indices.
  public func topKMask(_ k: Int) -> (Variable, IntTensor) {
    let x = value
    let n = x.shape.last!
    let (vals, idx) = x.topK(k)
    var mask = Tensor(uninitialized: x.shape)
    let pm = mask.unsafeMutablePointer()
    withExtendedLifetime((x, vals)) {
      let px = x.unsafePointer, pv = vals.unsafePointer
      Parallel.forRanges(x.count / n, grain: 64) { r in
        for row in r {
          let threshold = pv[row * k + k - 1]
          let xr = px + row * n, mr = pm + row * n
          for j in 0..<n { mr[j] = xr[j] >= threshold ? 1 : 0 }
        }
      }
    }
    return (masked(by: mask), idx)
  }
}
