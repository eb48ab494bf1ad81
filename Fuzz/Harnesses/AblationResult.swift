// Ablation result files: the first byte picks the sidecar `<file>.metadata.json` (even) or the result
// safetensors file (odd); both are read as `plot` and `ablate --resume` read them.
import Experiments
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAblationResult(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let bytes = input(data + 1, size - 1)
  if data[0] & 1 == 0 {
    if let sidecar = accepted({ try AblationResultFile.Sidecar.decode(bytes, source: "x.safetensors.metadata.json") }) {
      _ = try? sidecar.metadata.jsonData()
    }
  } else if let kl = accepted({ try AblationResultFile.klFullModel(bytes, source: "x.safetensors") }) {
    _ = kl.scalars.reduce(0, +)
    _ = AblationResultFile.digest(bytes)
  }
  return 0
}
