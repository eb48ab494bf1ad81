import Foundation
import SAE

/// How a measured mean improvement compares with the paper's headline.
public enum HeadlineVerdict: String, Codable, Sendable {
  /// Within two combined standard errors of the paper's value.
  case reproduces
  /// Same sign as the paper's value, but farther than two combined standard errors from it.
  case sameSignDifferentSize = "same sign, different size"
  /// The opposite sign (or zero) where the paper reports an improvement.
  case reversed

  /// The verdict for `ours` against `paper`.
  public init(ours: ReplicationReport.Estimate, paper: ReplicationReport.Estimate) {
    let tolerance = 2 * (ours.error * ours.error + paper.error * paper.error).squareRoot()
    if Swift.abs(ours.value - paper.value) <= tolerance {
      self = .reproduces
    } else if ours.value * paper.value > 0 {
      self = .sameSignDifferentSize
    } else {
      self = .reversed
    }
  }
}

extension ReplicationReport {
  /// One headline row: a placement's method at the final stage against the paper.
  public struct Headline: Codable, Sendable {
    public var placement: String
    public var method: String
    public var paper: Estimate
    public var ours: Estimate
    public var oursWithoutLastPoint: Estimate?
    public var verdict: HeadlineVerdict
  }

  /// The paper's headline methods at the final stage, with verdicts.
  public var headlines: [Headline] {
    guard let final = stages.first(where: { $0.stage == "final" }) else { return [] }
    return final.placements.compactMap { p in
      guard let paper = p.paper, let method = ReplicationSpec.paperHeadlines[SAEPlacement(rawValue: p.placement) ?? .ffLayer]?.method,
            let ours = p.meanImprovement[method] else { return nil }
      return Headline(placement: p.placement, method: method, paper: paper, ours: ours,
                      oursWithoutLastPoint: p.meanImprovementWithoutLastPoint[method], verdict: HeadlineVerdict(ours: ours, paper: paper))
    }
  }

  /// `63.15% ± 1.35%`.
  static func percent(_ e: Estimate?) -> String {
    guard let e else { return "–" }
    return String(format: "%.2f%% ± %.2f%%", 100 * e.value, 100 * e.error)
  }

  static func stageTitle(_ stage: String) -> String {
    stage == "final" ? "final" : "step \(Int(stage.dropFirst(5)) ?? 0)"
  }

  static func placementTitle(_ raw: String) -> String {
    switch SAEPlacement(rawValue: raw) {
    case .transformerBlock?: return "Transformer blocks"
    case .ffBlock?: return "FF blocks"
    case .ffLayer?: return "FF layers"
    case nil: return raw
    }
  }

  /// The report as Markdown: headlines, then per placement the improvement by training stage, the final
  /// per-layer AUCs, the SAE metrics and the attribution concentration of every stage. `preamble` goes
  /// after the title (machine, corpus, budgets).
  public func markdown(preamble: String = "") -> String {
    var s = "# SCALAR replication\n\n"
    if !preamble.isEmpty { s += preamble + "\n\n" }
    s += "## Headlines (final checkpoints; relative improvement 1 − AUC/AUC_TopK, mean over layers)\n\n"
    s += "| placement | method | paper | ours | ours without the last N | verdict |\n|---|---|---|---|---|---|\n"
    for h in headlines {
      s += "| \(Self.placementTitle(h.placement)) | \(h.method) | \(Self.percent(h.paper)) | \(Self.percent(h.ours)) | \(Self.percent(h.oursWithoutLastPoint)) | \(h.verdict.rawValue) |\n"
    }
    let placementNames = stages.flatMap { $0.placements.map(\.placement) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    for name in placementNames {
      s += "\n## \(Self.placementTitle(name))\n"
      let perStage = stages.compactMap { st in st.placements.first { $0.placement == name }.map { (st.stage, $0) } }
      guard let any = perStage.first?.1 else { continue }
      let layers = any.layers.map(\.layer)
      for method in any.methods {
        s += "\n### \(method) vs \(any.baseline) by training stage\n\n"
        s += "| stage | " + layers.map { "layer \($0)" }.joined(separator: " | ") + " | mean | mean without the last N |\n"
        s += "|---|" + layers.map { _ in "---|" }.joined() + "---|---|\n"
        for (stage, p) in perStage {
          s += "| \(Self.stageTitle(stage)) | "
          s += layers.map { l in Self.percent(p.layers.first { $0.layer == l }?.improvement[method]) }.joined(separator: " | ")
          s += " | \(Self.percent(p.meanImprovement[method])) | \(Self.percent(p.meanImprovementWithoutLastPoint[method])) |\n"
        }
      }
      if let final = perStage.last(where: { $0.0 == "final" })?.1 {
        let labels = [final.baseline] + final.methods
        var header: [String] = ["layer"]
        header += labels.map { "\($0) AUC" }
        header += final.methods.map { "\($0) vs \(final.baseline)" }
        header += final.methods.map { "\($0) without the last N" }
        s += "\n### Final AUCs per layer\n\n| " + header.joined(separator: " | ") + " |\n"
        s += "|" + String(repeating: "---|", count: header.count) + "\n"
        for l in final.layers {
          s += "| \(l.layer) | " + labels.map { label in
            l.auc[label].map { ScalarSummary.format($0.value, error: $0.error) } ?? "–"
          }.joined(separator: " | ")
          s += " | " + final.methods.map { Self.percent(l.improvement[$0]) }.joined(separator: " | ")
          s += " | " + final.methods.map { Self.percent(l.improvementWithoutLastPoint[$0]) }.joined(separator: " | ") + " |\n"
        }
      }
      s += "\n### SAE metrics (val split; L0, CE-loss increase, dead-feature fraction, step of the reloaded checkpoint)\n\n"
      s += "| stage | series | SAE | L0 | CE increase | dead | checkpoint step |\n|---|---|---|---|---|---|---|\n"
      for (stage, p) in perStage {
        for run in p.runs {
          for sae in run.saes {
            s += "| \(Self.stageTitle(stage)) | \(run.label) | \(sae.key) | \(String(format: "%.2f", sae.l0)) | "
              + (sae.ceIncrease.map { String(format: "%.4f", $0) } ?? "") + " | \(String(format: "%.3f", sae.deadFraction)) | "
              + (sae.checkpointStep.map(String.init) ?? "–") + " |\n"
          }
        }
      }
      s += "\n### Attribution concentration (share of Σa² on the diagonal; edges carrying 50/90/99% of Σa²)\n\n"
      s += "| stage | series | layer | diagonal | 50% | 90% | 99% | nonzero edges |\n|---|---|---|---|---|---|---|---|\n"
      for (stage, p) in perStage {
        for run in p.runs {
          for layer in run.attributions.keys.sorted() {
            let a = run.attributions[layer]!
            s += "| \(Self.stageTitle(stage)) | \(run.label) | \(layer) | \(String(format: "%.2f%%", 100 * a.diagonalShare)) | "
              + [0.5, 0.9, 0.99].map { a.edgesForShare[$0].map(String.init) ?? "–" }.joined(separator: " | ")
              + " | \(a.nonzeroEdges) |\n"
          }
        }
      }
    }
    return s
  }

  /// Relative improvement of each method per layer (and the mean) against the training step of each stage,
  /// one plot per placement; `stepOfFinal` gives the x position of the final stage (the runs' length).
  public func improvementPlots(stepOfFinal: [String: Double]) -> [(placement: String, plot: SVGPlot)] {
    var out: [(String, SVGPlot)] = []
    let placementNames = stages.flatMap { $0.placements.map(\.placement) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    for name in placementNames {
      let perStage = stages.compactMap { st -> (Double, PlacementResult)? in
        guard let p = st.placements.first(where: { $0.placement == name }) else { return nil }
        let x = st.stage == "final" ? stepOfFinal[name] : Double(st.stage.dropFirst(5))
        return x.map { ($0, p) }
      }.sorted { $0.0 < $1.0 }
      guard let first = perStage.first?.1 else { continue }
      var series: [SVGPlot.Series] = []
      for method in first.methods {
        for layer in first.layers.map(\.layer) {
          let points = perStage.compactMap { x, p in p.layers.first { $0.layer == layer }?.improvement[method].map { (x, $0) } }
          series.append(SVGPlot.Series(label: "\(method) layer \(layer)", x: points.map(\.0), y: points.map { 100 * $0.1.value },
                                       lower: points.map { 100 * ($0.1.value - $0.1.error) }, upper: points.map { 100 * ($0.1.value + $0.1.error) }))
        }
        let mean = perStage.compactMap { x, p in p.meanImprovement[method].map { (x, $0) } }
        series.append(SVGPlot.Series(label: "\(method) mean", x: mean.map(\.0), y: mean.map { 100 * $0.1.value },
                                     lower: mean.map { 100 * ($0.1.value - $0.1.error) }, upper: mean.map { 100 * ($0.1.value + $0.1.error) }))
      }
      var plot = SVGPlot(title: "\(Self.placementTitle(name)): improvement over \(first.baseline) by SAE training steps",
                         xLabel: "SAE training steps", yLabel: "Relative improvement (%)", series: series)
      plot.shadesArea = false
      out.append((name, plot))
    }
    return out
  }
}
