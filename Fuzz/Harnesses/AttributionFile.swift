// Attribution files: AttributionFile.decode, then the per-pair check the ablate tool makes (shape and finite
// values) for every matrix, against its own shape and against a fixed one.
import Experiments
import Foundation
import Tensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAttributionFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let file = accepted({ try AttributionFile.decode(input(data, size), source: "attributions.safetensors") }) else { return 0 }
  for (key, t) in file.tensors {
    require(t.rank == 2, "accepted a non-matrix \(key)")
    for shape in [t.shape, [16, 24]] {
      guard let m = accepted({ try AttributionFile.matrix(file.tensors, key: key, shape: shape, source: "attributions.safetensors") })
      else { continue }
      require(m.isFinite && m.shape == shape, "matrix check let \(key) through")
      _ = accepted { try EdgeRanking.byAttribution(m, seed: 1) }
    }
  }
  _ = file.metadata["model_name"]
  return 0
}
