import Tensor

/// One point of an edge-ablation sweep: the circuit keeping the top `edges` edges of one pair.
public struct AblationPoint {
  /// Upstream layer.
  public var layer: Int
  /// N, the number of kept edges.
  public var edges: Int
  /// Downstream magnitudes of the pruned circuit [P, T, F_down].
  public var magnitudes: Tensor
  /// Logits of the pruned circuit [P, T, V].
  public var logits: Tensor
  /// KL(full model ‖ pruned) per position [P, T].
  public var klFullModel: Tensor
  /// KL(unpruned circuit ‖ pruned) per position [P, T].
  public var klCircuit: Tensor
  /// True when N is every edge and the unpruned magnitudes were used.
  public var usedUnprunedMagnitudes: Bool
  /// Seconds spent on this point.
  public var seconds: Double

  public var klFullModelMean: Float { klFullModel.mean() }
  public var klCircuitMean: Float { klCircuit.mean() }
}
