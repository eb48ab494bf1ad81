import Foundation

/// GELU with the tanh approximation: y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))), forward and backward.
public enum GELUKernel {
  static let c: Float = 0.797_884_560_802_865_4  // √(2/π)
  static let a: Float = 0.044_715

  /// y = gelu(x) over n elements.
  @inline(__always)
  public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
      let v = VectorMath.load(x + i)
      let v3: SIMD8<Float> = v * v * v
      let u: SIMD8<Float> = (v + a * v3) * c
      let t = VectorMath.tanh(u)
      let half: SIMD8<Float> = v * 0.5
      VectorMath.store(half * (t + 1), y + i)
      i += 8
    }
    while i < n { y[i] = scalar(x[i]); i += 1 }
  }

  /// dx = dy · gelu′(x) over n elements (dx may alias dy).
  @inline(__always)
  public static func backward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
      let v = VectorMath.load(x + i)
      let v2: SIMD8<Float> = v * v
      let u: SIMD8<Float> = (v + a * v2 * v) * c
      let t = VectorMath.tanh(u)
      let sech2: SIMD8<Float> = 1 - t * t
      let du: SIMD8<Float> = (3 * a * v2 + 1) * c
      let left: SIMD8<Float> = (t + 1) * 0.5
      let right: SIMD8<Float> = v * 0.5 * sech2 * du
      VectorMath.store(VectorMath.load(dy + i) * (left + right), dx + i)
      i += 8
    }
    while i < n { dx[i] = dy[i] * scalarDerivative(x[i]); i += 1 }
  }

  /// Plain scalar gelu (reference).
  public static func scalar(_ x: Float) -> Float {
    0.5 * x * (1 + tanhf(c * (x + a * x * x * x)))
  }

  /// Plain scalar derivative gelu′(x) (reference).
  public static func scalarDerivative(_ x: Float) -> Float {
    let t = tanhf(c * (x + a * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x)
  }
}

extension Tensor {
  /// gelu′(x) elementwise.
  public func geluDerivative() -> Tensor {
    let ones = Tensor(shape: shape, repeating: 1)
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime((storage, ones.storage)) {
      let p = storage.pointer, o = ones.storage.pointer
      Parallel.forRanges(count, grain: 1 << 15) { r in
        GELUKernel.backward(p + r.lowerBound, o + r.lowerBound, po + r.lowerBound, r.count)
      }
    }
    return out
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
