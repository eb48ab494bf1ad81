import Foundation

/// The inputs of a libFuzzer harness (Fuzz/README.md) that the normal test suites replay through the same
/// entry points: the committed seeds `Fuzz/Corpus/<harness>/` (valid inputs) and `Fuzz/Regressions/<harness>/`
/// (inputs that once made the harness crash, kept after the fix).
public enum FuzzInputs {
  /// (path relative to the repository, bytes, whether it is a regression input) for every input of `harness`.
  public static func all(_ harness: String) throws -> [(name: String, data: Data, regression: Bool)] {
    var out: [(String, Data, Bool)] = []
    for folder in ["Fuzz/Corpus", "Fuzz/Regressions"] {
      let dir = SharedData.repositoryRoot.appendingPathComponent(folder).appendingPathComponent(harness)
      for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.sorted() ?? [] {
        out.append(("\(folder)/\(harness)/\(name)", try Data(contentsOf: dir.appendingPathComponent(name)), folder.hasSuffix("Regressions")))
      }
    }
    return out
  }
}
