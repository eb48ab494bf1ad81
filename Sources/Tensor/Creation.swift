import Foundation

extension Tensor {
  /// A tensor of ones.
  public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }

  /// A tensor of zeros.
  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(zeros: shape) }

  /// A tensor with every element `value`.
  public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(shape: shape, repeating: value) }

  /// [start, start + step, …] up to but excluding `end`.
  public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
    precondition(step != 0, "arange step must be nonzero")
    let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
    return Tensor((0..<n).map { start + Float($0) * step })
  }

  /// Values drawn uniformly from [low, high) with `generator`, in row-major order.
  public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, generator: inout RandomGenerator) -> Tensor {
    var t = Tensor(uninitialized: shape)
    let p = t.unsafeMutablePointer()
    for i in 0..<t.count { p[i] = low + (high - low) * generator.nextUniform() }
    return t
  }

  /// Values drawn from N(mean, std²) with `generator`, in row-major order.
  public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout RandomGenerator) -> Tensor {
    var t = Tensor(uninitialized: shape)
    let p = t.unsafeMutablePointer()
    for i in 0..<t.count { p[i] = mean + std * generator.nextNormal() }
    return t
  }

  /// PyTorch's `kaiming_uniform_` with a = 0 (gain √2): U(±√(6 / fan_in)), fan_in = shape[1]
  /// (times the receptive field for rank > 2).
  public static func kaimingUniform(_ shape: [Int], generator: inout RandomGenerator) -> Tensor {
    precondition(shape.count >= 2, "kaiming init needs at least 2 dimensions, got \(shape)")
    let fanIn = shape[1] * Shape.count(Array(shape.dropFirst(2)))
    let bound = (6 / Float(fanIn)).squareRoot()
    return uniform(shape, low: -bound, high: bound, generator: &generator)
  }
}
