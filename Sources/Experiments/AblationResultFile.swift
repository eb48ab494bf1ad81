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
  /// layout, the point's mean KLs and the file's size and FNV-1a digest. A point holding a NaN or an
  /// infinity is refused (naming its layer and edge count) before anything is written. Returns the file's URL.
  @discardableResult
  public static func write(_ point: AblationPoint, stem: String, directory: URL, layout: Layout,
                           metadata: [String: Any]) throws -> URL {
    let url = directory.appendingPathComponent(stem + ".safetensors")
    let file = tensors(point, layout: layout)
    if let bad = file.firstNonFinite {
      throw ExperimentError("refusing to write the ablation result of layer \(point.layer) with \(point.edges) edges to \(url.path): \(bad); nothing was written")
    }
    let bytes = SafeTensors.encode(file, intDType: "I32")
    try AtomicFile.write(bytes, to: url)
    var meta = metadata
    meta["experiment_id"] = stem
    meta["tensor_layout"] = layout.rawValue
    meta[fileBytesKey] = bytes.count
    meta[fileDigestKey] = digest(bytes)
    var results = meta["results"] as? [String: Any] ?? [:]
    results["kl_full_model_mean"] = Double(point.klFullModelMean)
    results["kl_divergence_mean"] = Double(point.klCircuitMean)
    results["execution_time"] = point.seconds
    results["used_unpruned_magnitudes"] = point.usedUnprunedMagnitudes
    meta["results"] = results
    guard JSONSerialization.isValidJSONObject(meta) else {
      throw ExperimentError("ablation metadata for \(stem) is not valid JSON")
    }
    let data = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys])
    try AtomicFile.write(data, to: metadataURL(for: url))
    return url
  }

  static let fileBytesKey = "file_bytes", fileDigestKey = "file_fnv1a64"

  /// FNV-1a (64-bit) of `data`, as 16 hex digits.
  public static func digest(_ data: Data) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    data.withUnsafeBytes { raw in for b in raw { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 } }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }

  /// What a result file's sidecar says: the point, its settings, and the result file's size and digest.
  public struct Sidecar {
    public var placement: SAEPlacement
    public var layer: Int
    public var edges: Int
    /// `edge_selection_strategy` (gradient or random), when given.
    public var selection: String?
    /// The whole `experiment_params` object.
    public var parameters: [String: Any]
    /// `tensor_layout` (compact or full; absent in the reference's files).
    public var layout: String?
    /// `results.kl_full_model_mean` and `results.kl_divergence_mean`, when given.
    public var klFullModelMean: Double?
    public var klCircuitMean: Double?
    /// The result file's size and digest (absent in files written before they were recorded).
    public var fileBytes: Int?
    public var fileDigest: String?

    /// Parses a sidecar's bytes; errors name `source`.
    public static func decode(_ data: Data, source: String) throws -> Sidecar {
      let object: Any
      do {
        object = try JSONSerialization.jsonObject(with: data)
      } catch {
        throw ExperimentError("\(source) is not valid JSON: \(error.localizedDescription)")
      }
      guard let meta = object as? [String: Any] else { throw ExperimentError("\(source) is not a JSON object") }
      let params = meta["experiment_params"] as? [String: Any] ?? [:]
      guard let label = params["placement"] as? String, let placement = AblationSeries.placementFromLabel(label),
            let layer = exactInt(params["upstream_layer_idx"]), let edges = exactInt(params["num_edges"]) else {
        throw ExperimentError("\(source) lacks experiment_params.placement / upstream_layer_idx / num_edges")
      }
      let results = meta["results"] as? [String: Any] ?? [:]
      return Sidecar(placement: placement, layer: layer, edges: edges, selection: params["edge_selection_strategy"] as? String,
                     parameters: params, layout: meta["tensor_layout"] as? String,
                     klFullModelMean: (results["kl_full_model_mean"] as? NSNumber)?.doubleValue,
                     klCircuitMean: (results["kl_divergence_mean"] as? NSNumber)?.doubleValue,
                     fileBytes: exactInt(meta[fileBytesKey]), fileDigest: meta[fileDigestKey] as? String)
    }

    /// An integral JSON number within ±9·10¹⁵, else nil.
    static func exactInt(_ value: Any?) -> Int? {
      guard let d = (value as? NSNumber)?.doubleValue, d == d.rounded(), Swift.abs(d) < 9e15 else { return nil }
      return Int(d)
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
  public static func finished(stem: String, directory: URL, parameters: [String: Any], layout: Layout) -> Sidecar? {
    let url = directory.appendingPathComponent(stem + ".safetensors")
    guard let sidecarData = try? AtomicFile.read(metadataURL(for: url)),
          let sidecar = try? Sidecar.decode(sidecarData, source: url.path),
          sidecar.layout == layout.rawValue, sidecar.klFullModelMean != nil, sidecar.klCircuitMean != nil,
          let bytes = sidecar.fileBytes, let expected = sidecar.fileDigest,
          let canonical = try? JSONSerialization.data(withJSONObject: parameters, options: [.sortedKeys]),
          let stored = try? JSONSerialization.data(withJSONObject: sidecar.parameters, options: [.sortedKeys]),
          canonical == stored,
          let data = try? AtomicFile.read(url), data.count == bytes, digest(data) == expected
    else { return nil }
    return sidecar
  }
}
