import Foundation
import Tensor
import SAE

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

  /// Writes the point's file `<stem>.safetensors` and its sidecar into `directory` (both atomically, the
  /// sidecar last, so that a sidecar always describes a complete file); the sidecar holds `metadata` plus the
  /// stem, the layout, the point's results and the file's size and FNV-1a digest. A point holding a NaN or an
  /// infinity is refused (naming its layer and edge count) before anything is written. Returns the file's URL.
  @discardableResult
  public static func write(_ point: AblationPoint, stem: String, directory: URL, layout: Layout,
                           metadata: AblationMetadata = AblationMetadata()) throws -> URL {
    let url = directory.appendingPathComponent(stem + ".safetensors")
    let file = tensors(point, layout: layout)
    if let bad = file.firstNonFinite {
      throw ExperimentError("refusing to write the ablation result of layer \(point.layer) with \(point.edges) edges to \(url.path): \(bad); nothing was written")
    }
    let bytes = SafeTensors.encode(file, intDType: "I32")
    try AtomicFile.write(bytes, to: url)
    var meta = metadata
    meta.experimentId = stem
    meta.tensorLayout = layout.rawValue
    meta.fileBytes = bytes.count
    meta.fileFNV1a64 = digest(bytes)
    meta.results = AblationMetadata.Results(klFullModelMean: Double(point.klFullModelMean), klDivergenceMean: Double(point.klCircuitMean),
                                            executionTime: point.seconds, usedUnprunedMagnitudes: point.usedUnprunedMagnitudes)
    try AtomicFile.write(try meta.jsonData(), to: metadataURL(for: url))
    return url
  }

  /// FNV-1a (64-bit) of `data`, as 16 hex digits.
  public static func digest(_ data: Data) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    data.withUnsafeBytes { raw in for b in raw { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 } }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }

  /// A result file's sidecar as `plot` and `ablate --resume` read it: its `AblationMetadata`, which must name
  /// the point (placement, upstream layer, edge count).
  public struct Sidecar: Sendable {
    public var metadata: AblationMetadata
    public var placement: SAEPlacement
    public var layer: Int
    public var edges: Int

    /// `edge_selection_strategy` (gradient or random), when given.
    public var selection: String? { metadata.experimentParams?.edgeSelectionStrategy }
    /// `results.kl_full_model_mean` and `results.kl_divergence_mean`, when given.
    public var klFullModelMean: Double? { metadata.results?.klFullModelMean }
    public var klCircuitMean: Double? { metadata.results?.klDivergenceMean }
    /// The result file's size and digest (absent in files written before they were recorded).
    public var fileBytes: Int? { metadata.fileBytes }
    public var fileDigest: String? { metadata.fileFNV1a64 }

    /// Parses a sidecar's bytes; errors name `source`.
    public static func decode(_ data: Data, source: String) throws -> Sidecar {
      let metadata = try AblationMetadata.decode(data, source: source)
      guard let params = metadata.experimentParams, let label = params.placement,
            let placement = AblationSeries.placementFromLabel(label),
            let layer = params.upstreamLayerIdx, let edges = params.numEdges else {
        throw ExperimentError("\(source) lacks experiment_params.placement / upstream_layer_idx / num_edges")
      }
      return Sidecar(metadata: metadata, placement: placement, layer: layer, edges: edges)
    }
  }

  /// The per-position full-model KL values [P, T] of a result file's bytes; errors name `source`.
  public static func klFullModel(_ data: Data, source: String) throws -> Tensor {
    let file = try SafeTensors.decode(data, source: source)
    guard let kl = file.tensors["kl_divergence_full_model"] else {
      throw ExperimentError("\(source) has no kl_divergence_full_model tensor")
    }
    return kl
  }

  /// For resuming a sweep: the sidecar of point `stem` in `directory` when its result file is complete and
  /// was computed with the same `parameters` (`experiment_params`) and `layout`; nil when the point must be
  /// computed (no sidecar, other settings, or a result file that is missing or differs from the one the
  /// sidecar describes).
  public static func finished(stem: String, directory: URL, parameters: AblationMetadata.ExperimentParams,
                              layout: Layout) -> Sidecar? {
    let url = directory.appendingPathComponent(stem + ".safetensors")
    guard let sidecarData = try? AtomicFile.read(metadataURL(for: url)),
          let sidecar = try? Sidecar.decode(sidecarData, source: url.path),
          sidecar.metadata.experimentParams == parameters, sidecar.metadata.tensorLayout == layout.rawValue,
          sidecar.klFullModelMean != nil, sidecar.klCircuitMean != nil,
          let bytes = sidecar.fileBytes, let expected = sidecar.fileDigest,
          let data = try? AtomicFile.read(url), data.count == bytes, digest(data) == expected
    else { return nil }
    return sidecar
  }
}
