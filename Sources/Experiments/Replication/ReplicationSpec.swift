import Foundation
import SAE

/// What a SCALAR replication compares: per placement, a baseline run (TopK) and method runs (Staircase,
/// JSAE), each a run directory under the checkpoints directory, analysed at the final checkpoints and at
/// milestone steps, with the paper's headline number beside ours.
public struct ReplicationSpec: Sendable {
  /// One labelled run.
  public struct Series: Sendable, Equatable {
    public var label: String
    /// Run directory name under the checkpoints directory (also the attribution file stem and the ablation
    /// series directory name).
    public var run: String
    /// Ablation series directory name under the results directory (default: the run name).
    public var resultSeries: String

    public init(label: String, run: String, resultSeries: String? = nil) {
      self.label = label
      self.run = run
      self.resultSeries = resultSeries ?? run
    }
  }

  /// The paper's mean relative improvement of a method over TopK on one placement.
  public struct PaperHeadline: Sendable, Equatable {
    public var method: String
    public var value: Double
    public var error: Double
  }

  /// One placement's comparison.
  public struct Placement: Sendable {
    public var placement: SAEPlacement
    public var baseline: Series
    public var methods: [Series]
    public var paper: PaperHeadline?

    public init(placement: SAEPlacement, baseline: Series, methods: [Series], paper: PaperHeadline? = nil) {
      self.placement = placement
      self.baseline = baseline
      self.methods = methods
      self.paper = paper
    }

    /// Baseline first, then the methods.
    public var series: [Series] { [baseline] + methods }
  }

  /// The paper's headline numbers (arXiv 2511.07572, toy model; spec section 9).
  public static let paperHeadlines: [SAEPlacement: PaperHeadline] = [
    .transformerBlock: PaperHeadline(method: "Staircase", value: 0.6315, error: 0.0135),
    .ffBlock: PaperHeadline(method: "Staircase", value: 0.5967, error: 0.0183),
    .ffLayer: PaperHeadline(method: "JSAE", value: 0.0854, error: 0.0038),
  ]

  public var placements: [Placement]
  public init(placements: [Placement]) { self.placements = placements }

  /// Parses `PLACEMENT=LABEL:RUN[@SERIES],LABEL:RUN[@SERIES]…` (the first is the baseline; PLACEMENT is
  /// transformer_block, ff_block or ff_layer, or the enum's raw values; SERIES names the ablation result
  /// directory when it differs from the run); the paper's number for the placement is attached.
  public static func parsePlacement(_ text: String) throws -> Placement {
    let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
    guard parts.count == 2, let placement = Self.placement(named: parts[0]) else {
      throw ExperimentError("'\(text)' is not PLACEMENT=LABEL:RUN,LABEL:RUN… (PLACEMENT: transformer_block, ff_block or ff_layer)")
    }
    var series: [Series] = []
    for item in parts[1].split(separator: ",") {
      let pair = item.split(separator: ":", maxSplits: 1).map(String.init)
      guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
        throw ExperimentError("'\(item)' in '\(text)' is not LABEL:RUN")
      }
      guard !series.contains(where: { $0.label == pair[0] }) else { throw ExperimentError("label '\(pair[0])' given twice in '\(text)'") }
      let target = pair[1].split(separator: "@", maxSplits: 1).map(String.init)
      guard target.allSatisfy({ !$0.isEmpty }) else { throw ExperimentError("'\(item)' in '\(text)' is not LABEL:RUN[@SERIES]") }
      series.append(Series(label: pair[0], run: target[0], resultSeries: target.count == 2 ? target[1] : nil))
    }
    guard series.count >= 2 else { throw ExperimentError("'\(text)' needs a baseline and at least one method (LABEL:RUN,LABEL:RUN)") }
    return Placement(placement: placement, baseline: series[0], methods: Array(series.dropFirst()),
                     paper: paperHeadlines[placement])
  }

  /// The placement called `name`: transformer_block / ff_block / ff_layer, or the enum's raw values.
  public static func placement(named name: String) -> SAEPlacement? {
    switch name.lowercased() {
    case "transformer_block", "trans_block", "transformerblock": return .transformerBlock
    case "ff_block", "ffblock", "mlp_block": return .ffBlock
    case "ff_layer", "fflayer", "mlp_layer": return .ffLayer
    default: return SAEPlacement(rawValue: name)
    }
  }
}
