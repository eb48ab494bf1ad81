import Autograd
import Tensor

/// The feed-forward layer: c_fc [C → 4C], tanh-GELU, c_proj [4C → C].
public final class MLP: Module {
  public let cFc: Linear
  public let cProj: Linear

  init(config: GPTConfig, generator: inout RandomGenerator) {
    let c = config.nEmbd
    cFc = Linear(inFeatures: c, outFeatures: 4 * c, generator: &generator)
    cProj = Linear(inFeatures: 4 * c, outFeatures: c, std: 0.02 / (2 * Float(config.nLayer)).squareRoot(), generator: &generator)
  }

  /// x [..., C] → [..., C], as one fused node (`Variable.feedForward`).
  public func callAsFunction(_ x: Variable) -> Variable {
    x.feedForward(fcWeight: cFc.weight, fcBias: cFc.bias, projWeight: cProj.weight, projBias: cProj.bias)
  }

  public var namedParameters: [(String, Variable)] {
    prefixed("c_fc", cFc.namedParameters) + prefixed("c_proj", cProj.namedParameters)
  }
}
