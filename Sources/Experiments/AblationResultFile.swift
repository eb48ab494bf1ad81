import Foundation
import Tensor

/// Result files of edge-ablation sweeps (spec section 4): one safetensors file per (layer, N) holding
/// `feature_magnitudes`, `logits`, `kl_divergence` (vs the unpruned circuit) and `kl_divergence_full_model`
/// [P, T], plus the sidecar `<file>.safetensors.metadata.json` with the experiment parameters.
///
/// Layouts: `full` stores the reference's dense tensors (feature_magnitudes [P, T, F_down], logits
/// [P, T, V]); `compact` (the default, ~20× smaller) stores feature_magnitudes [P, T, W] with their
/// feature ids `feature_indices` (I32, −1 = padding; W = the most nonzero features at one position) and the
/// logits of the last position only [P, V] (the reference's target token index T − 1).
public enum AblationResultFile {
  public enum Layout: String, Sendable {
    case compact, full
  }

  /// `{placement}_{variant}_{selection}_{layer}_{N}` — the reference's experiment id
  /// (`magnitudes_{variant}_{selection}_{layer}_{N}`) with the placement in front instead of the task name
  /// and no timestamp, so that reruns replace their files.
  public static func stem(placement: String, variant: String, selection: EdgeSelection, layer: Int, edges: Int) -> String {
    "\(placement)_\(variant)_\(selection.rawValue)_\(layer)_\(edges)"
  }

  /// The sidecar's URL for a result file.
  public static func metadataURL(for url: URL) -> URL {
    url.deletingLastPathComponent().appendingPathComponent(url.lastPathComponent + ".metadata.json")
  }

  /// The tensors of a point in `layout`.
  public static func tensors(_ point: AblationPoint, layout: Layout) -> SafeTensorsFile {
    var file = SafeTensorsFile(tensors: ["kl_divergence": point.klCircuit, "kl_divergence_full_model": point.klFullModel])
    switch layout {
    case .full:
      file.tensors["feature_magnitudes"] = point.magnitudes
      file.tensors["logits"] = point.logits
    case .compact:
      let m = point.magnitudes, f = m.shape.last!, rows = m.count / f
      var counts = [Int](repeating: 0, count: rows)
      m.withUnsafeBufferPointer { p in
        for r in 0..<rows { for j in 0..<f where p[r * f + j] != 0 { counts[r] += 1 } }
      }
      let width = Swift.max(1, counts.max() ?? 0)
      var values = Tensor(zeros: Array(m.shape.dropLast()) + [width])
      var indices = [Int32](repeating: -1, count: rows * width)
      let pv = values.unsafeMutablePointer()
      m.withUnsafeBufferPointer { p in
        for r in 0..<rows {
          var q = 0
          for j in 0..<f where p[r * f + j] != 0 {
            pv[r * width + q] = p[r * f + j]
            indices[r * width + q] = Int32(j)
            q += 1
          }
        }
      }
      file.tensors["feature_magnitudes"] = values
      file.intTensors["feature_indices"] = IntTensor(shape: values.shape, scalars: indices)
      let l = point.logits, t = l.shape[1]
      file.tensors["logits"] = l.slice(axis: 1, (t - 1)..<t).reshaped([l.shape[0], l.shape[2]])
    }
    return file
  }

  /// Writes the point's file `<stem>.safetensors` and its sidecar into `directory` (both atomically); the
  /// sidecar holds `metadata` plus the stem, the layout and the point's results. Returns the file's URL.
  @discardableResult
  public static func write(_ point: AblationPoint, stem: String, directory: URL, layout: Layout,
                           metadata: AblationMetadata = AblationMetadata()) throws -> URL {
    let url = directory.appendingPathComponent(stem + ".safetensors")
    try SafeTensors.write(tensors(point, layout: layout), to: url, intDType: "I32")
    var meta = metadata
    meta.experimentId = stem
    meta.tensorLayout = layout.rawValue
    meta.results = AblationMetadata.Results(klFullModelMean: Double(point.klFullModelMean), klDivergenceMean: Double(point.klCircuitMean),
                                            executionTime: point.seconds, usedUnprunedMagnitudes: point.usedUnprunedMagnitudes)
    try AtomicFile.write(try meta.jsonData(), to: metadataURL(for: url))
    return url
  }
}
