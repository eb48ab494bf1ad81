import Foundation
import Testing
import Tensor

/// The safetensors and .npy fuzz harnesses' seeds (`Fuzz/Corpus/`) and regression inputs (`Fuzz/Regressions/`)
/// through the same readers: seeds are read and round-trip, regression inputs are read or refused on one
/// line; nothing traps. (TensorTests does not depend on TestSupport, hence its own file walk.)
@Suite struct FuzzRegressionTests {
  /// Runs `read` on every seed and regression input of `harness` (at least `minimum`): seeds must be read,
  /// regression inputs read or refused with a one-line error.
  static func replay(_ harness: String, minimum: Int, _ read: (_ name: String, _ data: Data) throws -> Void) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var count = 0
    for folder in ["Fuzz/Corpus", "Fuzz/Regressions"] {
      let dir = root.appendingPathComponent(folder).appendingPathComponent(harness)
      for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.sorted() ?? [] {
        count += 1
        let label = "\(folder)/\(harness)/\(name)"
        do {
          try read(label, try Data(contentsOf: dir.appendingPathComponent(name)))
        } catch {
          #expect(folder.hasSuffix("Regressions") && !"\(error)".contains("\n"), "\(label): \(error)")
        }
      }
    }
    #expect(count >= minimum, "the fuzz inputs of \(harness) were not found")
  }

  @Test func safeTensorsInputs() throws {
    try Self.replay("SafeTensors", minimum: 4) { name, data in
      let file = try SafeTensors.decode(data, source: name)
      let again = try SafeTensors.decode(SafeTensors.encode(file), source: name)
      #expect(again.tensors.mapValues { $0.scalars.map(\.bitPattern) } == file.tensors.mapValues { $0.scalars.map(\.bitPattern) })
      #expect(again.intTensors == file.intTensors && again.metadata == file.metadata)
    }
  }

  @Test func npyInputs() throws {
    try Self.replay("NPY", minimum: 5) { name, data in
      let array = try NPY.decode(data, source: name)
      #expect(NPY.encode(try NPY.decode(NPY.encode(array), source: name)) == NPY.encode(array))
      _ = try Tensor(npy: array)
    }
  }
}
