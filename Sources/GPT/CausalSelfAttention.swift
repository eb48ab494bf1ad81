import Autograd
import Tensor

/// Multi-head causal self-attention: c_attn [C → 3C] packs q, k, v; the fused attention kernel; c_proj [C → C].
public final class CausalSelfAttention: Module {
  public let cAttn: Linear
  public let cProj: Linear
  public let heads: Int

  init(config: GPTConfig, generator: inout RandomGenerator) {
    let c = config.nEmbd
    heads = config.nHead
    cAttn = Linear(inFeatures: c, outFeatures: 3 * c, generator: &generator)
    cProj = Linear(inFeatures: c, outFeatures: c, std: 0.02 / (2 * Float(config.nLayer)).squareRoot(), generator: &generator)
  }

  /// x [B, T, C] → [B, T, C].
  public func callAsFunction(_ x: Variable) -> Variable {
    let qkv = cAttn(x)                       // [B, T, 3C]
    let y = qkv.causalSelfAttention(heads: heads)  // [B, T, C]
    return cProj(y)
  }

  public var namedParameters: [(String, Variable)] {
    prefixed("c_attn", cAttn.namedParameters) + prefixed("c_proj", cProj.namedParameters)
  }
}
