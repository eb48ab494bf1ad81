import Autograd
import Tensor

/// A pre-norm transformer block: resid_mid = x + attn(ln_1(x)); resid_post = resid_mid + mlp(ln_2(resid_mid)).
public final class Block: Module {
  public let ln1: any Normalization
  public let attn: CausalSelfAttention
  public let ln2: any Normalization
  public let mlp: MLP
  /// This block's index in the model.
  public let layer: Int

  init(config: GPTConfig, layer: Int, generator: inout RandomGenerator) {
    self.layer = layer
    let c = config.nEmbd
    switch config.normStrategy {
    case .layerNorm:
      ln1 = LayerNorm(dimension: c)
      ln2 = LayerNorm(dimension: c)
    case .dynamicTanh:
      ln1 = LayerNorm(dimension: c)
      ln2 = DynamicTanh(dimension: c, alpha: config.alphaMLP)
    case .identity:
      ln1 = IdentityNorm()
      ln2 = IdentityNorm()
    }
    attn = CausalSelfAttention(config: config, generator: &generator)
    mlp = MLP(config: config, generator: &generator)
  }

  /// x [B, T, C] → block output [B, T, C], offering every hook point of this block to `hook`
  /// (`act` is offered by the caller).
  public func callAsFunction(_ x: Variable, hook: GPTHook? = nil) -> Variable {
    if canRunInference(x, hook: hook) { return inferenceForward(x, hook: hook) }
    let residMid = x + attn(ln1(x))                                    // [B, T, C]
    guard let hook else { return residMid + mlp(ln2(residMid)) }
    let ln2Input = hook.intercept(.residmid, layer: layer, residMid)   // replaces only ln_2's input
    let mlpIn = hook.intercept(.mlpin, layer: layer, ln2(ln2Input))
    let mlpOut = hook.intercept(.mlpout, layer: layer, mlp(mlpIn))
    return hook.intercept(.residpost, layer: layer, residMid + mlpOut)
  }

  /// The forward through `inference`, handing the observed inner points to `hook` in the forward's order.
  func inferenceForward(_ x: Variable, hook: GPTHook?) -> Variable {
    let observed = Self.innerPoints.map { hook?.observes($0, layer: layer) ?? false }
    let r = inference(x.value, keepResidMid: observed[0], keepMLPIn: observed[1], keepMLPOut: observed[2])
    let output = Variable(r.output)
    guard let hook else { return output }
    if let t = r.residMid { _ = hook.intercept(.residmid, layer: layer, Variable(t)) }
    if let t = r.mlpIn { _ = hook.intercept(.mlpin, layer: layer, Variable(t)) }
    if let t = r.mlpOut { _ = hook.intercept(.mlpout, layer: layer, Variable(t)) }
    if observed[3] { _ = hook.intercept(.residpost, layer: layer, output) }
    return output
  }

  public var namedParameters: [(String, Variable)] {
    prefixed("ln_1", ln1.namedParameters) + prefixed("attn", attn.namedParameters)
      + prefixed("ln_2", ln2.namedParameters) + prefixed("mlp", mlp.namedParameters)
  }
}
