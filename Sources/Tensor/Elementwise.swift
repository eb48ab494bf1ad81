import Foundation

/// The elementwise binary operations with NumPy broadcasting.
public enum BinaryOp: Sendable {
  case add, sub, mul, div, maximum, minimum
}

/// The elementwise unary operations.
public enum UnaryOp: Sendable {
  case neg, exp, log, tanh, sqrt, abs, relu, sigmoid, square, gelu, reciprocal
}

protocol BinaryFunction { static func apply(_ a: Float, _ b: Float) -> Float }
enum AddF: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
enum SubF: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
enum MulF: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
enum DivF: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b } }
enum MaxF: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a.isNaN || a >= b ? a : b } }
enum MinF: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a.isNaN || a <= b ? a : b } }

extension Tensor {
  /// Elementwise `op` with broadcasting; the result has the broadcast shape.
  public func binary(_ op: BinaryOp, _ other: Tensor) -> Tensor {
    switch op {
    case .add: return Tensor.broadcastBinary(self, other, AddF.self)
    case .sub: return Tensor.broadcastBinary(self, other, SubF.self)
    case .mul: return Tensor.broadcastBinary(self, other, MulF.self)
    case .div: return Tensor.broadcastBinary(self, other, DivF.self)
    case .maximum: return Tensor.broadcastBinary(self, other, MaxF.self)
    case .minimum: return Tensor.broadcastBinary(self, other, MinF.self)
    }
  }

  static func broadcastBinary<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, _: F.Type) -> Tensor {
    let outShape = a.shape == b.shape ? a.shape : Shape.broadcast(a.shape, b.shape)
    var out = Tensor(uninitialized: outShape)
    let n = out.count
    let po = out.unsafeMutablePointer()
    withExtendedLifetime((a.storage, b.storage)) {
      let pa = a.storage.pointer, pb = b.storage.pointer
      if a.count == n && b.count == n {
        Parallel.forRanges(n, grain: 1 << 16) { r in
          for i in r { po[i] = F.apply(pa[i], pb[i]) }
        }
      } else if b.count == 1 {
        let s = pb[0]
        Parallel.forRanges(n, grain: 1 << 16) { r in for i in r { po[i] = F.apply(pa[i], s) } }
      } else if a.count == 1 {
        let s = pa[0]
        Parallel.forRanges(n, grain: 1 << 16) { r in for i in r { po[i] = F.apply(s, pb[i]) } }
      } else if a.count == n && outShape.suffix(b.rank).elementsEqual(b.shape) {
        // b repeats along the leading axes of a (e.g. a bias over rows)
        let inner = b.count, rows = n / inner
        Parallel.forRanges(rows, grain: Swift.max(1, (1 << 16) / Swift.max(inner, 1))) { r in
          for row in r {
            let o = po + row * inner, x = pa + row * inner
            for j in 0..<inner { o[j] = F.apply(x[j], pb[j]) }
          }
        }
      } else if b.count == n && outShape.suffix(a.rank).elementsEqual(a.shape) {
        let inner = a.count, rows = n / inner
        Parallel.forRanges(rows, grain: Swift.max(1, (1 << 16) / Swift.max(inner, 1))) { r in
          for row in r {
            let o = po + row * inner, y = pb + row * inner
            for j in 0..<inner { o[j] = F.apply(pa[j], y[j]) }
          }
        }
      } else {
        let sa = Shape.broadcastStrides(from: a.shape, to: outShape)
        let sb = Shape.broadcastStrides(from: b.shape, to: outShape)
        stridedBinary(outShape, pa, sa, pb, sb, po, F.self)
      }
    }
    return out
  }

  /// General broadcasting loop: odometer over all axes but the last, a strided inner loop on the last.
  static func stridedBinary<F: BinaryFunction>(_ shape: [Int], _ pa: UnsafePointer<Float>, _ sa: [Int],
                                               _ pb: UnsafePointer<Float>, _ sb: [Int],
                                               _ po: UnsafeMutablePointer<Float>, _: F.Type) {
    let r = shape.count
    if r == 0 { po[0] = F.apply(pa[0], pb[0]); return }
    let inner = shape[r - 1], ia = sa[r - 1], ib = sb[r - 1]
    let outer = Shape.count(shape) / Swift.max(inner, 1)
    var idx = [Int](repeating: 0, count: r - 1)
    var offA = 0, offB = 0
    var o = po
    for _ in 0..<outer {
      for j in 0..<inner { o[j] = F.apply(pa[offA + j * ia], pb[offB + j * ib]) }
      o += inner
      var d = r - 2
      while d >= 0 {
        idx[d] += 1
        offA += sa[d]; offB += sb[d]
        if idx[d] < shape[d] { break }
        offA -= sa[d] * shape[d]; offB -= sb[d] * shape[d]
        idx[d] = 0
        d -= 1
      }
    }
  }

  /// Elementwise `op`.
  public func unary(_ op: UnaryOp) -> Tensor {
    var out = Tensor(uninitialized: shape)
    let n = count
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      Parallel.forRanges(n, grain: 1 << 15) { r in
        let x = p + r.lowerBound, o = po + r.lowerBound, m = r.count
        switch op {
        case .neg: for i in 0..<m { o[i] = -x[i] }
        case .exp: Tensor.vectorMap(x, o, m, VectorMath.exp, Foundation.expf)
        case .log: for i in 0..<m { o[i] = Foundation.logf(x[i]) }
        case .tanh: Tensor.vectorMap(x, o, m, VectorMath.tanh, Foundation.tanhf)
        case .sqrt: for i in 0..<m { o[i] = x[i].squareRoot() }
        case .abs: for i in 0..<m { o[i] = Swift.abs(x[i]) }
        case .relu: for i in 0..<m { o[i] = x[i] > 0 ? x[i] : 0 }
        case .sigmoid: for i in 0..<m { o[i] = 1 / (1 + Foundation.expf(-x[i])) }
        case .square: for i in 0..<m { o[i] = x[i] * x[i] }
        case .reciprocal: for i in 0..<m { o[i] = 1 / x[i] }
        case .gelu: GELUKernel.forward(x, o, m)
        }
      }
    }
    return out
  }

  /// Applies a SIMD function to 8-lane blocks and a scalar function to the tail.
  @inline(__always)
  static func vectorMap(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int,
                        _ f: (SIMD8<Float>) -> SIMD8<Float>, _ g: (Float) -> Float) {
    var i = 0
    while VectorMath.vectorized && i + 8 <= n {
      VectorMath.store(f(VectorMath.load(x + i)), o + i)
      i += 8
    }
    while i < n { o[i] = g(x[i]); i += 1 }
  }

  /// Every element raised to `exponent`.
  public func pow(_ exponent: Float) -> Tensor {
    if exponent == 2 { return unary(.square) }
    if exponent == 1 { return self }
    if exponent == 0.5 { return unary(.sqrt) }
    return map { Foundation.powf($0, exponent) }
  }

  /// Every element clamped to `[lower, upper]`.
  public func clamped(min lower: Float = -.infinity, max upper: Float = .infinity) -> Tensor {
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      for i in 0..<count { po[i] = Swift.min(Swift.max(p[i], lower), upper) }
    }
    return out
  }

  /// Applies `f` to every element (a convenience for small tensors and tests; kernels use typed loops).
  public func map(_ f: (Float) -> Float) -> Tensor {
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      for i in 0..<count { po[i] = f(p[i]) }
    }
    return out
  }

  /// `condition ? self : other` elementwise; `condition` is nonzero for true. All three broadcast together.
  public func whereMask(_ condition: Tensor, else other: Tensor) -> Tensor {
    let shapeOut = Shape.broadcast(Shape.broadcast(shape, other.shape), condition.shape)
    let a = expanded(to: shapeOut), b = other.expanded(to: shapeOut), c = condition.expanded(to: shapeOut)
    var out = Tensor(uninitialized: shapeOut)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime((a.storage, b.storage, c.storage)) {
      let pa = a.storage.pointer, pb = b.storage.pointer, pc = c.storage.pointer
      for i in 0..<out.count { po[i] = pc[i] != 0 ? pa[i] : pb[i] }
    }
    return out
  }

  /// 1 where `self > threshold`, else 0.
  public func greater(than threshold: Float) -> Tensor { map { $0 > threshold ? 1 : 0 } }

  /// Multiplies every element by `s`.
  public func scaled(_ s: Float) -> Tensor {
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      Parallel.forRanges(count, grain: 1 << 16) { r in for i in r { po[i] = p[i] * s } }
    }
    return out
  }

  /// Adds `s` to every element.
  public func adding(_ s: Float) -> Tensor {
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      for i in 0..<count { po[i] = p[i] + s }
    }
    return out
  }

  /// self += alpha · other (same shape), in place.
  public mutating func addInPlace(_ other: Tensor, alpha: Float = 1) {
    precondition(shape == other.shape, "addInPlace: shapes \(shape) and \(other.shape) differ")
    let po = unsafeMutablePointer()
    let n = count
    withExtendedLifetime(other.storage) {
      let p = other.storage.pointer
      Parallel.forRanges(n, grain: 1 << 16) { r in
        if alpha == 1 { for i in r { po[i] += p[i] } } else { for i in r { po[i] += alpha * p[i] } }
      }
    }
  }

  /// self *= s, in place.
  public mutating func scaleInPlace(_ s: Float) {
    let po = unsafeMutablePointer()
    let n = count
    Parallel.forRanges(n, grain: 1 << 16) { r in for i in r { po[i] *= s } }
  }

  /// Sets every element to `value`, in place.
  public mutating func fill(_ value: Float) {
    let po = unsafeMutablePointer()
    po.update(repeating: value, count: count)
  }

  public static func + (a: Tensor, b: Tensor) -> Tensor { a.binary(.add, b) }
  public static func - (a: Tensor, b: Tensor) -> Tensor { a.binary(.sub, b) }
  public static func * (a: Tensor, b: Tensor) -> Tensor { a.binary(.mul, b) }
  public static func / (a: Tensor, b: Tensor) -> Tensor { a.binary(.div, b) }
  public static func * (a: Tensor, s: Float) -> Tensor { a.scaled(s) }
  public static func * (s: Float, a: Tensor) -> Tensor { a.scaled(s) }
  public static func + (a: Tensor, s: Float) -> Tensor { a.adding(s) }
  public static func - (a: Tensor, s: Float) -> Tensor { a.adding(-s) }
  public static func + (s: Float, a: Tensor) -> Tensor { a.adding(s) }
  public static func - (s: Float, a: Tensor) -> Tensor { a.scaled(-1).adding(s) }
  public static func / (a: Tensor, s: Float) -> Tensor { a.scaled(1 / s) }
  public static prefix func - (a: Tensor) -> Tensor { a.unary(.neg) }
  public static func += (a: inout Tensor, b: Tensor) {
    if a.shape == b.shape { a.addInPlace(b) } else { a = a + b }
  }

  /// Largest absolute difference between two tensors of equal shape.
  public func maxAbsDifference(_ other: Tensor) -> Float {
    precondition(shape == other.shape, "maxAbsDifference: shapes \(shape) and \(other.shape) differ")
    var m: Float = 0
    withExtendedLifetime((storage, other.storage)) {
      let a = storage.pointer, b = other.storage.pointer
      for i in 0..<count { m = Swift.max(m, Swift.abs(a[i] - b[i])) }
    }
    return m
  }

  /// True when every element is finite.
  public var isFinite: Bool {
    withUnsafeBufferPointer { b in b.allSatisfy { $0.isFinite } }
  }
}
