import Foundation
import Testing

/// The inputs of a libFuzzer harness (Fuzz/README.md) that the normal test suites replay through the same
/// entry points: the committed seeds `Fuzz/Corpus/<harness>/` (valid inputs) and `Fuzz/Regressions/<harness>/`
/// (inputs that once made the harness crash, kept after the fix).
public enum FuzzInputs {
  /// (path relative to the repository, bytes, whether it is a regression input) for every input of `harness`.
  public static func all(_ harness: String, root: URL = SharedData.repositoryRoot) throws -> [(name: String, data: Data, regression: Bool)] {
    var out: [(String, Data, Bool)] = []
    for folder in ["Fuzz/Corpus", "Fuzz/Regressions"] {
      let dir = root.appendingPathComponent(folder).appendingPathComponent(harness)
      for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.sorted() ?? [] {
        out.append(("\(folder)/\(harness)/\(name)", try Data(contentsOf: dir.appendingPathComponent(name)), folder.hasSuffix("Regressions")))
      }
    }
    return out
  }

  /// Runs `read` on every input of `harness` (at least `minimum` must exist): a seed must be read; a
  /// regression input is read or refused with a one-line error.
  public static func replay(_ harness: String, minimum: Int, sourceLocation: SourceLocation = #_sourceLocation,
                            _ read: (_ name: String, _ data: Data) throws -> Void) throws {
    let inputs = try all(harness)
    #expect(inputs.count >= minimum, "the fuzz inputs of \(harness) were not found", sourceLocation: sourceLocation)
    for input in inputs {
      do {
        try read(input.name, input.data)
      } catch {
        #expect(input.regression && !"\(error)".contains("\n"), "\(input.name): \(error)", sourceLocation: sourceLocation)
      }
    }
  }
}
