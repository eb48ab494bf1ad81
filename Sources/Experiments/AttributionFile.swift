import Foundation
import Tensor

/// Attribution methods, with the reference's `attribution_method` strings.
public enum AttributionMethod: String, Sendable, CaseIterable {
  /// Integrated gradients.
  case integratedGradients = "ig"
  /// Manual ablation ("ma" in the reference).
  case manualAblation = "ma"
}

/// The `__metadata__` of an attribution file, as the reference's compute_attributions.py writes it:
/// model_name, attribution_method, batch_size, num_batches, steps ("N/A" unless IG), epsilon ("N/A" unless
/// manual ablation; Python's float formatting).
public struct AttributionMetadata: Equatable, Sendable {
  public var modelName: String
  public var method: AttributionMethod
  public var batchSize: Int
  public var numBatches: Int
  /// IG steps.
  public var steps: Int?
  /// Manual-ablation activity threshold.
  public var epsilon: Double?

  public init(modelName: String, method: AttributionMethod, batchSize: Int, numBatches: Int, steps: Int? = nil,
              epsilon: Double? = nil) {
    self.modelName = modelName
    self.method = method
    self.batchSize = batchSize
    self.numBatches = numBatches
    self.steps = steps
    self.epsilon = epsilon
  }

  /// The string map stored in the file.
  public var dictionary: [String: String] {
    ["model_name": modelName,
     "attribution_method": method.rawValue,
     "batch_size": String(batchSize),
     "num_batches": String(numBatches),
     "steps": method == .integratedGradients ? steps.map(String.init) ?? "N/A" : "N/A",
     "epsilon": method == .manualAblation ? epsilon.map(Self.pythonFloat) ?? "N/A" : "N/A"]
  }

  /// Python's `str(float)`: shortest round-trip digits, at least one decimal ("0.0", "1e-05", "0.001").
  static func pythonFloat(_ x: Double) -> String {
    if x == x.rounded() && Swift.abs(x) < 1e16 { return String(format: "%.1f", x) }
    var s = "\(x)"
    // Swift writes 1e-05 as "1e-05" already; Python writes exponents with at least two digits.
    if let e = s.firstIndex(of: "e") {
      let mantissa = s[..<e], rest = s[s.index(after: e)...]
      let sign = rest.first == "-" ? "-" : "+"
      let digits = rest.drop { $0 == "-" || $0 == "+" }
      s = "\(mantissa)e\(sign)\(digits.count < 2 ? "0" + digits : String(digits))"
    }
    return s
  }
}

/// Attribution files: one F32 tensor [F_up, F_down] per pair key (rows = source features) plus the
/// reference's metadata (spec section 4).
public enum AttributionFile {
  /// Writes the matrices and metadata atomically. Matrices holding a NaN or an infinity are refused (naming
  /// the pair) before anything is written.
  public static func write(_ tensors: [String: Tensor], metadata: AttributionMetadata, to url: URL) throws {
    for (key, t) in tensors where t.rank != 2 {
      throw ExperimentError("attribution \(key) must be a matrix, got shape \(t.shape)")
    }
    let file = SafeTensorsFile(tensors: tensors, metadata: metadata.dictionary)
    if let bad = file.firstNonFinite {
      throw ExperimentError("refusing to write attributions with non-finite values to \(url.path): pair \(bad); nothing was written")
    }
    try SafeTensors.write(file, to: url)
  }

  /// The matrices and metadata of a file.
  public static func read(_ url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    try decode(try AtomicFile.read(url), source: url.path)
  }

  /// The matrices and metadata of a file's bytes; errors name `source`. Every tensor must be a float matrix.
  public static func decode(_ data: Data, source: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    let file = try SafeTensors.decode(data, source: source)
    if let name = file.intTensors.keys.sorted().first {
      throw ExperimentError("\(source): '\(name)' is an integer tensor, attributions are float matrices")
    }
    if let (name, t) = file.tensors.sorted(by: { $0.key < $1.key }).first(where: { $0.value.rank != 2 }) {
      throw ExperimentError("\(source): attributions '\(name)' have shape \(t.shape), not a matrix")
    }
    return (file.tensors, file.metadata)
  }

  /// The matrix of `pair` in `tensors` (read from `source`), checked against the pair's SAE sizes and for
  /// finite values.
  public static func matrix(_ tensors: [String: Tensor], for pair: CircuitPair, source: String) throws -> Tensor {
    try matrix(tensors, key: pair.attributionKey, shape: [pair.upstream.featureCount, pair.downstream.featureCount],
               source: source)
  }

  /// The matrix `key` in `tensors` (read from `source`), checked to have `shape` [F_up, F_down] and finite values.
  public static func matrix(_ tensors: [String: Tensor], key: String, shape expected: [Int], source: String) throws -> Tensor {
    guard let t = tensors[key] else {
      throw ExperimentError("\(source) has no attributions '\(key)' (keys: \(tensors.keys.sorted().joined(separator: ", ")))")
    }
    guard t.shape == expected else {
      throw ExperimentError("\(source): attributions '\(key)' have shape \(t.shape), the checkpoint's SAEs need \(expected)")
    }
    guard t.isFinite else { throw ExperimentError("\(source): attributions '\(key)' contain NaN or infinite values") }
    return t
  }
}
