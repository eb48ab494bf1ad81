import Tensor

/// Layer normalisation over the last axis with learned `weight` (ones) and `bias` (zeros), eps 1e-5.
public final class LayerNorm: Module {
  public let weight: Variable
  public let bias: Variable
  public let eps: Float

  public init(dimension: Int, eps: Float = 1e-5) {
    weight = Variable(Tensor.ones([dimension]), requiresGrad: true)
    bias = Variable(Tensor(zeros: [dimension]), requiresGrad: true)
    self.eps = eps
  }

  public func callAsFunction(_ x: Variable) -> Variable { x.layerNorm(weight: weight, bias: bias, eps: eps) }

  public var namedParameters: [(String, Variable)] { [("weight", weight), ("bias", bias)] }
}
