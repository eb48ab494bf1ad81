import Autograd
import Tensor

/// A normalisation layer inside the GPT (LayerNorm, DynamicTanh or none).
public protocol Normalization: Module {
  /// Applies the normalisation over the last axis.
  func callAsFunction(_ x: Variable) -> Variable
}

extension LayerNorm: Normalization {}

/// DynamicTanh: γ·tanh(α·x) + β with a learned scalar α, per-channel γ (ones) and β (zeros).
public final class DynamicTanh: Normalization {
  public let alpha: Variable
  public let gamma: Variable
  public let beta: Variable

  public init(dimension: Int, alpha initialAlpha: Float) {
    alpha = Variable(Tensor([initialAlpha]), requiresGrad: true)
    gamma = Variable(Tensor.ones([dimension]), requiresGrad: true)
    beta = Variable(Tensor(zeros: [dimension]), requiresGrad: true)
  }

  public func callAsFunction(_ x: Variable) -> Variable { (x * alpha).tanh() * gamma + beta }

  public var namedParameters: [(String, Variable)] { [("alpha", alpha), ("gamma", gamma), ("beta", beta)] }
}

/// No normalisation (the reference's "Identity" strategy).
public final class IdentityNorm: Normalization {
  public init() {}
  public func callAsFunction(_ x: Variable) -> Variable { x }
  public var namedParameters: [(String, Variable)] { [] }
}
