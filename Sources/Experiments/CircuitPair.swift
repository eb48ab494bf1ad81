import SAE

/// The SAE pair bracketing one upstream layer (`SAEPair`, which owns the path between the SAEs, the
/// continuation to logits and the FF-block skip convention), as the experiments call it.
public typealias CircuitPair = SAEPair

extension SAEPair {
  /// Short placement label used in result file names: transblock, ffblock or fflayer.
  public var placementLabel: String {
    switch placement {
    case .transformerBlock: return "transblock"
    case .ffBlock: return "ffblock"
    case .ffLayer: return "fflayer"
    }
  }
}
