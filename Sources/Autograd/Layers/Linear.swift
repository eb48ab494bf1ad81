import Tensor

/// A fully connected layer y = x·Wᵀ + b with PyTorch's layout: `weight` [out, in], `bias` [out].
public final class Linear: Module {
  public let weight: Variable
  public let bias: Variable?

  /// A layer with weights N(0, std²) and zero bias (the GPT-2 initialisation).
  public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, std: Float = 0.02, generator: inout RandomGenerator) {
    weight = Variable(Tensor.normal([outFeatures, inFeatures], std: std, generator: &generator), requiresGrad: true)
    self.bias = bias ? Variable(Tensor(zeros: [outFeatures]), requiresGrad: true) : nil
  }

  /// A layer wrapping existing parameters.
  public init(weight: Variable, bias: Variable?) {
    self.weight = weight
    self.bias = bias
  }

  public var inFeatures: Int { weight.shape[1] }
  public var outFeatures: Int { weight.shape[0] }

  /// x [..., in] → [..., out].
  public func callAsFunction(_ x: Variable) -> Variable { Variable.linear(x, weight: weight, bias: bias) }

  public var namedParameters: [(String, Variable)] {
    var out = [("weight", weight)]
    if let bias { out.append(("bias", bias)) }
    return out
  }
}
