import Foundation

/// Parsing and locating the inputs experiment tools share.
public enum ExperimentInputs {
  /// A checkpoint directory given as a path, else as a name under `checkpointsDirectory`; it must hold
  /// sae.json.
  public static func checkpoint(_ name: String, checkpointsDirectory: URL) throws -> URL {
    let fm = FileManager.default
    let direct = URL(fileURLWithPath: name)
    let named = checkpointsDirectory.appendingPathComponent(name)
    let dir: URL
    if fm.fileExists(atPath: direct.path) { dir = direct } else if fm.fileExists(atPath: named.path) { dir = named } else {
      throw ExperimentError("checkpoint '\(name)' not found (neither \(direct.path) nor \(named.path) exists)")
    }
    guard fm.fileExists(atPath: dir.appendingPathComponent("sae.json").path) else {
      throw ExperimentError("\(dir.path) is not an SAE checkpoint (no sae.json)")
    }
    return dir
  }

  /// A comma-separated list of distinct non-negative layer indices ("0,1,2").
  public static func layers(_ text: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    var out: [Int] = []
    for p in parts {
      guard let l = Int(p), l >= 0 else { throw ExperimentError("layers must be a comma-separated list of layer indices, got '\(text)'") }
      guard !out.contains(l) else { throw ExperimentError("layer \(l) is listed twice") }
      out.append(l)
    }
    return out
  }

  /// The checkpoint directory's name (the reference's `model_name`).
  public static func modelName(_ directory: URL) -> String { directory.standardizedFileURL.lastPathComponent }
}
