import Foundation
import Testing
import Tensor

/// The safetensors and .npy fuzz harnesses' seeds (`Fuzz/Corpus/`) and regression inputs (`Fuzz/Regressions/`)
/// through the same readers: seeds are read and round-trip, regression inputs are read or refused on one
/// line; nothing traps. (TensorTests does not depend on TestSupport, hence its own file walk.)
@Suite struct FuzzRegressionTests {
  static func inputs(_ harness: String) throws -> [(name: String, data: Data, regression: Bool)] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var out: [(String, Data, Bool)] = []
    for folder in ["Fuzz/Corpus", "Fuzz/Regressions"] {
      let dir = root.appendingPathComponent(folder).appendingPathComponent(harness)
      for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.sorted() ?? [] {
        out.append(("\(folder)/\(harness)/\(name)", try Data(contentsOf: dir.appendingPathComponent(name)), folder.hasSuffix("Regressions")))
      }
    }
    return out
  }

  @Test func safeTensorsInputs() throws {
    let inputs = try Self.inputs("SafeTensors")
    #expect(inputs.count >= 4, "the fuzz seeds were not found")
    for input in inputs {
      do {
        let file = try SafeTensors.decode(input.data, source: input.name)
        let again = try SafeTensors.decode(SafeTensors.encode(file), source: input.name)
        #expect(again.tensors.mapValues { $0.scalars.map(\.bitPattern) } == file.tensors.mapValues { $0.scalars.map(\.bitPattern) })
        #expect(again.intTensors == file.intTensors && again.metadata == file.metadata)
      } catch {
        #expect(input.regression && !"\(error)".contains("\n"), "\(input.name): \(error)")
      }
    }
  }

  @Test func npyInputs() throws {
    let inputs = try Self.inputs("NPY")
    #expect(inputs.count >= 5, "the fuzz seeds were not found")
    for input in inputs {
      do {
        let array = try NPY.decode(input.data, source: input.name)
        #expect(NPY.encode(try NPY.decode(NPY.encode(array), source: input.name)) == NPY.encode(array))
        _ = try Tensor(npy: array)
      } catch {
        #expect(input.regression && !"\(error)".contains("\n"), "\(input.name): \(error)")
      }
    }
  }
}
