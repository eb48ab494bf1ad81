import Foundation

/// GELU with the tanh approximation: y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))), forward and backward.
public enum GELUKernel {
  static let c: Float = 0.797_884_560_802_865_4  // √(2/π)
  static let a: Float = 0.044_715

  /// y = gelu(x) over n elements, computed as x·σ(2u) with u = √(2/π)(x + 0.044715x³)
  /// (equal to ½x(1 + tanh u)): one exponential and one division per element.
  @inline(__always)
  public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while VectorMath.vectorized && i + 8 <= n {
      let v = VectorMath.load(x + i)
      let v3: SIMD8<Float> = v * v * v
      let minus2u: SIMD8<Float> = (v + a * v3) * (-2 * c)
      let e = VectorMath.exp(minus2u)
      VectorMath.store(v / (e + 1), y + i)
      i += 8
    }
    while i < n { y[i] = scalar(x[i]); i += 1 }
  }

  /// y = gelu(x) and d = gelu′(x) over n elements, so that the backward is dx = dy·d and needs neither x
  /// nor an exponential: d = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²) with s = σ(2u).
  @inline(__always)
  public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while VectorMath.vectorized && i + 8 <= n {
      let v = VectorMath.load(x + i)
      let (sv, d) = sigmoidAndDerivative(v)
      VectorMath.store(d, derivative + i)
      VectorMath.store(v * sv, y + i)
      i += 8
    }
    while i < n {
      let (sv, d) = scalarSigmoidAndDerivative(x[i])
      derivative[i] = d
      y[i] = x[i] * sv
      i += 1
    }
  }

  /// y = gelu(x) over n elements in the form `forward(_:_:derivative:_:)` computes it, x·σ(2u), without the
  /// derivative: the same bits as that function's y.
  @inline(__always)
  public static func forwardSigmoidForm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while VectorMath.vectorized && i + 8 <= n {
      let v = VectorMath.load(x + i)
      VectorMath.store(v * sigmoidAndDerivative(v).sigmoid, y + i)
      i += 8
    }
    while i < n { y[i] = x[i] * scalarSigmoidAndDerivative(x[i]).sigmoid; i += 1 }
  }

  /// dx = dy · gelu′(x) over n elements (dx may alias dy), with s = σ(2u):
  /// gelu′(x) = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²).
  @inline(__always)
  public static func backward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while VectorMath.vectorized && i + 8 <= n {
      let d = sigmoidAndDerivative(VectorMath.load(x + i)).derivative
      VectorMath.store(VectorMath.load(dy + i) * d, dx + i)
      i += 8
    }
    while i < n { dx[i] = dy[i] * scalarDerivative(x[i]); i += 1 }
  }

  /// d = gelu′(x) over n elements: the one gelu′ of the toolkit (the backward, the forward-with-derivative,
  /// the attribution paths' backward through the MLP and the Jacobian term all take it from here).
  @inline(__always)
  public static func derivative(_ x: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while VectorMath.vectorized && i + 8 <= n {
      VectorMath.store(sigmoidAndDerivative(VectorMath.load(x + i)).derivative, d + i)
      i += 8
    }
    while i < n { d[i] = scalarDerivative(x[i]); i += 1 }
  }

  /// Scalar gelu, in the same σ(2u) form (the tanh form loses digits to cancellation for negative x).
  public static func scalar(_ x: Float) -> Float {
    x / (1 + expf(-2 * c * (x + a * x * x * x)))
  }

  /// Scalar derivative gelu′(x) = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²), s = σ(2u).
  public static func scalarDerivative(_ x: Float) -> Float { scalarSigmoidAndDerivative(x).derivative }

  /// s = σ(2u) and gelu′(x) per lane, the forms the forward-with-derivative and the backward share.
  @inline(__always)
  static func sigmoidAndDerivative(_ v: SIMD8<Float>) -> (sigmoid: SIMD8<Float>, derivative: SIMD8<Float>) {
    let v2: SIMD8<Float> = v * v
    let minus2u: SIMD8<Float> = (v + a * v2 * v) * (-2 * c)
    let s: SIMD8<Float> = 1 / (VectorMath.exp(minus2u) + 1)
    let du: SIMD8<Float> = (3 * a * v2 + 1) * (2 * c)
    return (s, s + v * s * (1 - s) * du)
  }

  /// Scalar s = σ(2u) and gelu′(x).
  @inline(__always)
  static func scalarSigmoidAndDerivative(_ x: Float) -> (sigmoid: Float, derivative: Float) {
    let s = 1 / (1 + expf(-2 * c * (x + a * x * x * x)))
    return (s, s + x * s * (1 - s) * 2 * c * (1 + 3 * a * x * x))
  }
}

extension Tensor {
  /// gelu(self) and gelu′(self), the latter for the backward dx = dy ⊙ gelu′(x).
  public func geluSavingDerivative() -> (Tensor, derivative: Tensor) {
    var y = Tensor(uninitialized: shape), d = Tensor(uninitialized: shape)
    let py = y.unsafeMutablePointer(), pd = d.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      Parallel.forRanges(count, grain: 1 << 15) { r in
        GELUKernel.forward(p + r.lowerBound, py + r.lowerBound, derivative: pd + r.lowerBound, r.count)
      }
    }
    return (y, d)
  }

  /// gelu′(x) elementwise.
  public func geluDerivative() -> Tensor {
    var d = Tensor(uninitialized: shape)
    let pd = d.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      Parallel.forRanges(count, grain: 1 << 15) { r in GELUKernel.derivative(p + r.lowerBound, pd + r.lowerBound, r.count) }
    }
    return d
  }

  /// Backward of gelu: upstream · gelu′(self).
  public func geluBackward(_ upstream: Tensor) -> Tensor {
    precondition(upstream.shape == shape, "gelu backward: gradient \(upstream.shape) vs input \(shape)")
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime((storage, upstream.storage)) {
      let p = storage.pointer, g = upstream.storage.pointer
      Parallel.forRanges(count, grain: 1 << 15) { r in
        GELUKernel.backward(p + r.lowerBound, g + r.lowerBound, po + r.lowerBound, r.count)
      }
    }
    return out
  }
}
