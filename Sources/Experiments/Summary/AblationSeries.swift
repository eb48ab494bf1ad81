import Foundation
import SAE
import Tensor

/// The ablation results of one labelled series (e.g. "TopK", "Staircase"): every result file found in its
/// directories, grouped by placement, upstream layer and edge count, with the per-position KL divergences
/// against the full model (`kl_divergence_full_model`).
public struct AblationSeries: Sendable {
  public var label: String
  /// placement → layer → N → per-position KL values.
  public var values: [SAEPlacement: [Int: [Int: [Float]]]]

  public init(label: String, values: [SAEPlacement: [Int: [Int: [Float]]]]) {
    self.label = label
    self.values = values
  }

  /// Reads the result files (with their `.metadata.json` sidecars) in `directories`, keeping those of
  /// `selection` (gradient or random). Throws when a directory is missing or holds no results.
  public static func load(label: String, directories: [URL], selection: EdgeSelection = .gradient) throws -> AblationSeries {
    var values: [SAEPlacement: [Int: [Int: [Float]]]] = [:]
    for dir in directories {
      guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
        throw ExperimentError("no ablation results at \(dir.path) (directory missing)")
      }
      var found = 0
      for name in names.sorted() where name.hasSuffix(".safetensors.metadata.json") {
        let metaURL = dir.appendingPathComponent(name)
        let fileURL = dir.appendingPathComponent(String(name.dropLast(".metadata.json".count)))
        let sidecar = try AblationResultFile.Sidecar.decode(try AtomicFile.read(metaURL), source: metaURL.path)
        if let s = sidecar.selection, s != selection.rawValue { continue }
        guard FileManager.default.fileExists(atPath: fileURL.path) else {
          throw ExperimentError("\(fileURL.path) is missing (its metadata sidecar exists)")
        }
        let kl = try AblationResultFile.klFullModel(try AtomicFile.read(fileURL), source: fileURL.path)
        values[sidecar.placement, default: [:]][sidecar.layer, default: [:]][sidecar.edges] = kl.scalars
        found += 1
      }
      if found == 0 { throw ExperimentError("no \(selection.rawValue)-selection ablation results in \(dir.path)") }
    }
    return AblationSeries(label: label, values: values)
  }

  /// The placement named by a result file's `placement` label (transblock, ffblock, fflayer, or the enum's names).
  public static func placementFromLabel(_ s: String) -> SAEPlacement? {
    switch s.lowercased() {
    case "transblock", "transformer_block": return .transformerBlock
    case "ffblock", "ff_block": return .ffBlock
    case "fflayer", "ff_layer": return .ffLayer
    default: return nil
    }
  }
}
