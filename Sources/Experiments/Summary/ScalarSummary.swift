import Foundation
import SAE
import Tensor

/// The SCALAR summary of several ablation series: per placement and layer, each series' curve and AUC,
/// and each series' relative improvement over the baseline series (per layer and their mean).
public struct ScalarSummary: Sendable {
  public struct LayerResult: Sendable {
    public var layer: Int
    /// Curves by series label (series without results for this layer are absent).
    public var curves: [String: AblationCurve]
    /// Relative improvement over the baseline, by series label (not for the baseline itself).
    public var improvement: [String: RelativeImprovement]
    /// The same with every curve's last point (its largest edge count) left out.
    public var improvementWithoutLastPoint: [String: RelativeImprovement]
  }

  public struct PlacementResult: Sendable {
    public var placement: SAEPlacement
    public var layers: [LayerResult]
    /// Mean relative improvement over the layers where both the series and the baseline have results.
    public var meanImprovement: [String: RelativeImprovement]
    /// The same without each curve's last point.
    public var meanImprovementWithoutLastPoint: [String: RelativeImprovement]
  }

  /// Series labels in the order given.
  public var labels: [String]
  public var baseline: String
  public var placements: [PlacementResult]

  /// Computes curves (bootstrap with `resamples`, seeded per curve from `seed`), AUCs and improvements.
  public init(series: [AblationSeries], baseline: String, resamples: Int = 1000, seed: UInt64 = 0) throws {
    guard series.contains(where: { $0.label == baseline }) else {
      throw ExperimentError("baseline series '\(baseline)' is not among \(series.map(\.label).joined(separator: ", "))")
    }
    labels = series.map(\.label)
    self.baseline = baseline
    let order: [SAEPlacement] = [.transformerBlock, .ffBlock, .ffLayer]
    let curveOf = ScalarSummary.curves(series: series, placements: order, resamples: resamples, seed: seed)
    var out: [PlacementResult] = []
    for placement in order {
      let layerSet = Set(series.flatMap { ($0.values[placement] ?? [:]).keys })
      guard !layerSet.isEmpty else { continue }
      var layers: [LayerResult] = []
      for layer in layerSet.sorted() {
        var curves: [String: AblationCurve] = [:]
        for ser in series {
          if let c = curveOf[CurveKey(placement: placement, layer: layer, label: ser.label)] { curves[ser.label] = c }
        }
        var improvement: [String: RelativeImprovement] = [:], withoutLast: [String: RelativeImprovement] = [:]
        if let base = curves[baseline] {
          let baseCut = base.withoutLastPoint
          for (label, c) in curves where label != baseline {
            improvement[label] = RelativeImprovement(method: c, baseline: base)
            let cut = c.withoutLastPoint
            if cut.points.count >= 2 && baseCut.points.count >= 2 {
              withoutLast[label] = RelativeImprovement(method: cut, baseline: baseCut)
            }
          }
        }
        layers.append(LayerResult(layer: layer, curves: curves, improvement: improvement,
                                  improvementWithoutLastPoint: withoutLast))
      }
      var means: [String: RelativeImprovement] = [:], meansCut: [String: RelativeImprovement] = [:]
      for label in labels where label != baseline {
        let per = layers.compactMap { $0.improvement[label] }
        if !per.isEmpty { means[label] = RelativeImprovement.mean(per) }
        let perCut = layers.compactMap { $0.improvementWithoutLastPoint[label] }
        if !perCut.isEmpty { meansCut[label] = RelativeImprovement.mean(perCut) }
      }
      out.append(PlacementResult(placement: placement, layers: layers, meanImprovement: means,
                                 meanImprovementWithoutLastPoint: meansCut))
    }
    placements = out
  }

  private struct CurveKey: Hashable {
    var placement: SAEPlacement
    var layer: Int
    var label: String
  }

  /// Every series' curve per placement and layer, each from its own generator (seeded from `seed`, the
  /// series' position and the layer), so the curves are computed on the cores in any order.
  private static func curves(series: [AblationSeries], placements: [SAEPlacement], resamples: Int,
                             seed: UInt64) -> [CurveKey: AblationCurve] {
    var jobs: [(key: CurveKey, values: [Int: [Float]], seed: UInt64)] = []
    for placement in placements {
      for (s, ser) in series.enumerated() {
        for (layer, v) in (ser.values[placement] ?? [:]) where !v.isEmpty {
          jobs.append((CurveKey(placement: placement, layer: layer, label: ser.label), v,
                       seed &+ UInt64(s) &* 1_000_003 &+ UInt64(layer) &* 7919))
        }
      }
    }
    var results = [AblationCurve?](repeating: nil, count: jobs.count)
    results.withUnsafeMutableBufferPointer { out in
      let slots = out
      DispatchQueue.concurrentPerform(iterations: jobs.count) { j in
        slots[j] = AblationCurve(values: jobs[j].values, resamples: resamples, seed: jobs[j].seed)
      }
    }
    var byKey: [CurveKey: AblationCurve] = [:]
    for (j, job) in jobs.enumerated() { byKey[job.key] = results[j] }
    return byKey
  }

  /// The plot of one placement and layer.
  public func plot(_ p: PlacementResult, _ l: LayerResult) -> SVGPlot {
    let title: String
    switch p.placement {
    case .transformerBlock: title = "SAE pair across transformer block \(l.layer)"
    case .ffBlock: title = "SAE pair across FF block \(l.layer)"
    case .ffLayer: title = "SAE pair across FF layer \(l.layer)"
    }
    let series = labels.compactMap { label -> SVGPlot.Series? in
      guard let c = l.curves[label] else { return nil }
      return SVGPlot.Series(label: "\(label) (AUC \(ScalarSummary.format(c.auc, error: c.aucError, power: .superscript)))",
                            x: c.points.map { Double($0.edges) }, y: c.points.map(\.interval.mean),
                            lower: c.points.map(\.interval.lower), upper: c.points.map(\.interval.upper))
    }
    return SVGPlot(title: title, xLabel: "Number of edges remaining", yLabel: "KL divergence", series: series)
  }

  /// Three significant digits.
  public static func format(_ v: Double) -> String { String(format: "%.3g", v) }

  /// How `format(_:error:power:)` writes a power of ten.
  public enum PowerStyle: Sendable {
    /// `(24.2 ± 1.8)e3`
    case plain
    /// `(24.2 ± 1.8)×10³`
    case superscript
  }

  /// A value and its error with one shared power of ten (a multiple of 3) once the value reaches 1000; the
  /// error has two significant digits and the value as many decimals: `151 ± 21`, `(24.2 ± 1.8)e3`.
  public static func format(_ v: Double, error: Double, power: PowerStyle = .plain) -> String {
    guard v.isFinite, error.isFinite else { return "\(String(format: "%.3g", v)) ± \(String(format: "%.2g", error))" }
    let exponent = Swift.abs(v) >= 1000 ? 3 * Int(floor(log10(Swift.abs(v)) / 3)) : 0
    let scale = pow(10, Double(exponent))
    let m = v / scale, e = Swift.abs(error) / scale
    let pair: String
    if e > 0 {
      let decimals = Swift.min(6, Swift.max(0, 1 - Int(floor(log10(e)))))
      pair = String(format: "%.\(decimals)f ± %.\(decimals)f", m, e)
    } else {
      pair = String(format: "%.3g ± 0", m)
    }
    guard exponent != 0 else { return pair }
    switch power {
    case .plain: return "(\(pair))e\(exponent)"
    case .superscript:
      let digits: [Character: Character] = ["0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶",
                                            "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻"]
      return "(\(pair))×10" + String(String(exponent).map { digits[$0] ?? $0 })
    }
  }

  /// `63.15% ± 1.35%`.
  public static func percent(_ r: RelativeImprovement) -> String {
    String(format: "%.2f%% ± %.2f%%", 100 * r.value, 100 * r.error)
  }

  /// Labels (in the given order) with a curve in some layer of `p`.
  func labels(in p: PlacementResult) -> [String] {
    labels.filter { label in p.layers.contains { $0.curves[label] != nil } }
  }

  /// The printed tables, one per placement (columns for the series with results there).
  public var table: String {
    var out = ""
    for p in placements {
      let present = labels(in: p)
      out += "\(p.placement.rawValue): AUC of mean KL(full model ‖ pruned) over edges remaining (± bootstrap error)\n"
      var header = "layer"
      for label in present { header += " | \(label) AUC" }
      for label in present where label != baseline { header += " | \(label) vs \(baseline)" }
      for label in present where label != baseline { header += " | \(label) vs \(baseline) w/o last N" }
      out += header + "\n"
      for l in p.layers {
        var line = "\(l.layer)"
        for label in present {
          if let c = l.curves[label] { line += " | \(ScalarSummary.format(c.auc, error: c.aucError))" } else { line += " | –" }
        }
        for improvement in [l.improvement, l.improvementWithoutLastPoint] {
          for label in present where label != baseline {
            if let r = improvement[label] { line += " | " + ScalarSummary.percent(r) } else { line += " | –" }
          }
        }
        out += line + "\n"
      }
      for label in present where label != baseline {
        if let m = p.meanImprovement[label] {
          out += "mean relative improvement of \(label) over \(baseline): \(ScalarSummary.percent(m))"
          if let cut = p.meanImprovementWithoutLastPoint[label] { out += " (without the last N: \(ScalarSummary.percent(cut)))" }
          out += "\n"
        }
      }
      out += "\n"
    }
    return out
  }

  static func json(_ improvements: [String: RelativeImprovement]) -> [String: Any] {
    improvements.mapValues { ["value": $0.value, "error": $0.error] }
  }

  /// The summary as a JSON-ready object (numbers only as values).
  public var jsonObject: [String: Any] {
    var placementsOut: [String: Any] = [:]
    for p in placements {
      var layersOut: [String: Any] = [:]
      for l in p.layers {
        var entry: [String: Any] = [:]
        for (label, c) in l.curves {
          let cut = c.withoutLastPoint
          entry[label] = ["auc": c.auc, "auc_error": c.aucError,
                          "auc_without_last_point": cut.auc, "auc_error_without_last_point": cut.aucError,
                          "points": c.points.map { ["edges": $0.edges, "mean": $0.interval.mean, "lower": $0.interval.lower, "upper": $0.interval.upper] }]
        }
        entry["relative_improvement"] = Self.json(l.improvement)
        entry["relative_improvement_without_last_point"] = Self.json(l.improvementWithoutLastPoint)
        layersOut["\(l.layer)"] = entry
      }
      placementsOut[p.placement.rawValue] = ["layers": layersOut, "mean_relative_improvement": Self.json(p.meanImprovement),
                                             "mean_relative_improvement_without_last_point": Self.json(p.meanImprovementWithoutLastPoint)]
    }
    return ["placements": placementsOut]
  }
}
