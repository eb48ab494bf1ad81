import Tensor

/// A lookup table of `count` vectors of size `dimension`: `weight` [count, dimension].
public final class Embedding: Module {
  public let weight: Variable

  /// A table initialised N(0, std²).
  public init(count: Int, dimension: Int, std: Float = 0.02, generator: inout RandomGenerator) {
    weight = Variable(Tensor.normal([count, dimension], std: std, generator: &generator), requiresGrad: true)
  }

  /// indices [...] → [..., dimension].
  public func callAsFunction(_ indices: IntTensor) -> Variable { Variable.embedding(weight, indices) }

  public var namedParameters: [(String, Variable)] { [("weight", weight)] }
}
