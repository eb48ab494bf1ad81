import GPT

/// Where an SAE reads the GPT: an activation key of the GPT, written `{layer}_{hookpoint}` (e.g. `0_act`,
/// `3_mlpout`), exactly as the reference's `sae_keys`.
public typealias SAEKey = ActivationKey

/// Which part of the model a set of SAE keys brackets (spec section 5).
public enum SAEPlacement: String, Codable, Sendable {
  /// `i_act` keys: pairs (i_act, i+1_act) across block i.
  case transformerBlock = "TRANSFORMER_BLOCK"
  /// `i_residmid` / `i_residpost` pairs across the FF block y = x + mlp(ln_2(x)).
  case ffBlock = "FF_BLOCK"
  /// `i_mlpin` / `i_mlpout` pairs across the MLP y = mlp(x).
  case ffLayer = "FF_LAYER"

  /// The placement of a key list; nil when it mixes hook points or is not one of the three layouts.
  public init?(keys: [SAEKey]) {
    let points = Set(keys.map(\.hookPoint))
    if points == [.act] { self = .transformerBlock }
    else if points == [.residmid, .residpost] { self = .ffBlock }
    else if points == [.mlpin, .mlpout] { self = .ffLayer }
    else { return nil }
  }

  /// The hook points of an upstream/downstream pair of this placement.
  public var pairPoints: (upstream: HookPoint, downstream: HookPoint) {
    switch self {
    case .transformerBlock: return (.act, .act)
    case .ffBlock: return (.residmid, .residpost)
    case .ffLayer: return (.mlpin, .mlpout)
    }
  }

  /// The (upstream, downstream) keys bracketing upstream layer `layer`.
  public func pair(layer: Int) -> (upstream: SAEKey, downstream: SAEKey) {
    let p = pairPoints
    return (SAEKey(layer: layer, hookPoint: p.upstream),
            SAEKey(layer: self == .transformerBlock ? layer + 1 : layer, hookPoint: p.downstream))
  }

  /// The attribution-file key of the pair at upstream layer `layer`: `i-(i+1)`, `MLP_BLOCK_i` or `MLP_i`.
  public func attributionKey(layer: Int) -> String {
    switch self {
    case .transformerBlock: return "\(layer)-\(layer + 1)"
    case .ffBlock: return "MLP_BLOCK_\(layer)"
    case .ffLayer: return "MLP_\(layer)"
    }
  }
}
