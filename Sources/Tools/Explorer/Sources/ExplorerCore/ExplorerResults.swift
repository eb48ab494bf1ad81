import Experiments
import FeatureIndexStore
import Foundation
import SAE

/// The ablation curves and AUC table of a results directory (`GET /api/results`): either one `ablate --out`
/// directory (one series, named after the directory) or a directory whose subdirectories are such directories
/// (one series each). Read with `AblationSeries` and summarised with `ScalarSummary` (the baseline is the
/// series whose name contains "topk", else the first), exactly as `plot` does.
public struct ExplorerResults: Sendable {
  /// One curve point.
  public struct Point: Codable, Sendable, Equatable {
    public var edges: Int
    public var mean: Double
    public var lower: Double
    public var upper: Double
  }

  /// One series' curve at one layer.
  public struct Curve: Codable, Sendable, Equatable {
    public var series: String
    public var auc: Double
    public var aucError: Double
    /// Relative improvement over the baseline (nil for the baseline).
    public var improvement: Double?
    public var improvementError: Double?
    public var points: [Point]
  }

  public struct Layer: Codable, Sendable, Equatable {
    public var placement: String
    public var layer: Int
    public var curves: [Curve]
    /// The plot as SVG (the same drawing as `plot`).
    public var svg: String
  }

  /// What `GET /api/results` answers.
  public struct Summary: Codable, Sendable, Equatable {
    public var directory: String
    public var series: [String]
    public var baseline: String
    public var layers: [Layer]
  }

  public let directory: URL
  public let summary: Summary

  /// Reads and summarises the results (bootstrap intervals with 200 resamples); a directory without results is
  /// a one-line error.
  public init(directory: URL) throws {
    self.directory = directory
    let fm = FileManager.default
    guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else {
      throw ExplorerError("results directory \(directory.path) does not exist")
    }
    var series: [AblationSeries] = []
    do {
      if names.contains(where: { $0.hasSuffix(".safetensors.metadata.json") }) {
        series.append(try AblationSeries.load(label: directory.lastPathComponent, directories: [directory]))
      } else {
        for name in names.sorted() {
          let sub = directory.appendingPathComponent(name)
          let inner = (try? fm.contentsOfDirectory(atPath: sub.path)) ?? []
          if inner.contains(where: { $0.hasSuffix(".safetensors.metadata.json") }) {
            series.append(try AblationSeries.load(label: name, directories: [sub]))
          }
        }
      }
    } catch {
      throw ExplorerError("cannot read the ablation results in \(directory.path): \(error)")
    }
    guard !series.isEmpty else {
      throw ExplorerError("\(directory.path) holds no ablation results (no *.safetensors.metadata.json, nor subdirectories with them)")
    }
    let baseline = series.first(where: { $0.label.lowercased().contains("topk") && !$0.label.lowercased().contains("staircase") })?.label
      ?? series[0].label
    let scalar = try ScalarSummary(series: series, baseline: baseline, resamples: 200)
    var layers: [Layer] = []
    for p in scalar.placements {
      for l in p.layers {
        let curves = scalar.labels.compactMap { label -> Curve? in
          guard let c = l.curves[label] else { return nil }
          return Curve(series: label, auc: c.auc, aucError: c.aucError, improvement: l.improvement[label]?.value,
                       improvementError: l.improvement[label]?.error,
                       points: c.points.map { Point(edges: $0.edges, mean: $0.interval.mean, lower: $0.interval.lower, upper: $0.interval.upper) })
        }
        var plot = scalar.plot(p, l)
        plot.width = 640
        plot.height = 420
        layers.append(Layer(placement: p.placement.rawValue, layer: l.layer, curves: curves, svg: plot.render()))
      }
    }
    summary = Summary(directory: directory.path, series: scalar.labels, baseline: baseline, layers: layers)
  }
}
