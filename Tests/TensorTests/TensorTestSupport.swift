import Foundation
import Tensor

/// Plain reference implementations and input generators shared by the tensor test suites.
///
/// The references use index arithmetic written independently of the library (no `Shape` helpers), so a
/// bug in the library's shape code cannot hide in them.
enum Ref {
  /// Values uniform in [low, high) from a fixed seed.
  static func random(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, generator: &g)
  }

  /// Values 1, 2, 3, … in row-major order.
  static func iota(_ shape: [Int]) -> Tensor {
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: (0..<n).map { Float($0 + 1) })
  }

  /// Row-major multi-index of flat position `flat` in `shape`.
  static func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var idx = [Int](repeating: 0, count: shape.count)
    var rest = flat
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      idx[d] = rest % shape[d]
      rest /= shape[d]
    }
    return idx
  }

  /// Flat position of a multi-index in `shape`.
  static func ravel(_ idx: [Int], _ shape: [Int]) -> Int {
    var flat = 0
    for d in 0..<shape.count { flat = flat * shape[d] + idx[d] }
    return flat
  }

  /// NumPy broadcast shape, written out directly.
  static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: r - a.count) + a
    let pb = [Int](repeating: 1, count: r - b.count) + b
    return (0..<r).map { max(pa[$0], pb[$0]) }
  }

  /// Element of `t` read at an index of a (larger) broadcast shape.
  static func broadcastRead(_ t: Tensor, _ outIndex: [Int]) -> Float {
    let off = outIndex.count - t.rank
    let idx = (0..<t.rank).map { t.shape[$0] == 1 ? 0 : outIndex[$0 + off] }
    return t.scalars[ravel(idx, t.shape)]
  }

  /// Elementwise `f` with broadcasting, by explicit index mapping.
  static func broadcast(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let shape = broadcastShape(a.shape, b.shape)
    let n = shape.reduce(1, *)
    var out = [Float](repeating: 0, count: n)
    for i in 0..<n {
      let idx = unravel(i, shape)
      out[i] = f(broadcastRead(a, idx), broadcastRead(b, idx))
    }
    return Tensor(shape: shape, scalars: out)
  }

  /// Sum (in Double) over one axis.
  static func sum(_ t: Tensor, axis: Int, keepDims: Bool) -> Tensor {
    var outShape = t.shape
    outShape[axis] = 1
    var acc = [Double](repeating: 0, count: outShape.reduce(1, *))
    let x = t.scalars
    for i in 0..<t.count {
      var idx = unravel(i, t.shape)
      idx[axis] = 0
      acc[ravel(idx, outShape)] += Double(x[i])
    }
    if !keepDims { outShape.remove(at: axis) }
    return Tensor(shape: outShape, scalars: acc.map { Float($0) })
  }

  /// Result axis i is input axis `axes[i]`.
  static func permute(_ t: Tensor, _ axes: [Int]) -> Tensor {
    let outShape = axes.map { t.shape[$0] }
    let x = t.scalars
    var out = [Float](repeating: 0, count: t.count)
    for i in 0..<t.count {
      let oi = unravel(i, outShape)
      var src = [Int](repeating: 0, count: t.rank)
      for (k, a) in axes.enumerated() { src[a] = oi[k] }
      out[i] = x[ravel(src, t.shape)]
    }
    return Tensor(shape: outShape, scalars: out)
  }

  /// Naive triple-loop product of op(a) [m, k] and op(b) [k, n] (2-D), accumulated in Double.
  static func matmul2D(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    let x = a.scalars, y = b.scalars
    let m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1]
    let n = transposeB ? b.shape[0] : b.shape[1]
    var out = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var acc = 0.0
        for p in 0..<k {
          let av = transposeA ? x[p * a.shape[1] + i] : x[i * a.shape[1] + p]
          let bv = transposeB ? y[j * b.shape[1] + p] : y[p * b.shape[1] + j]
          acc += Double(av) * Double(bv)
        }
        out[i * n + j] = Float(acc)
      }
    }
    return Tensor(shape: [m, n], scalars: out)
  }

  /// Largest |a − b| over two equally long arrays.
  static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
  }

  /// Largest |a − b| over the largest |b| (an error relative to the tensor's scale); the shapes must agree.
  static func maxScaledDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "maxScaledDiff: shapes \(a.shape) vs \(b.shape)")
    let scale = max(b.scalars.map { abs($0) }.max() ?? 0, 1e-6)
    return maxAbsDiff(a.scalars, b.scalars) / scale
  }

  /// Largest |a − b| / (|b| + floor), for relative comparisons that tolerate values near zero.
  static func maxRelDiff(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    precondition(a.count == b.count, "maxRelDiff: \(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / (abs($1.1) + floor)) }
  }
}
