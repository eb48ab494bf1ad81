// safetensors reader: SafeTensors.decode on arbitrary bytes. What it accepts must re-encode to a file that
// decodes to the same tensors (bit for bit), integer tensors and metadata.
import Foundation
import Tensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = input(data, size)
  guard let file = accepted({ try SafeTensors.decode(bytes, source: "input") }) else { return 0 }
  guard let again = mustSucceed("decoding the re-encoded file", { try SafeTensors.decode(SafeTensors.encode(file), source: "re-encoded") })
  else { return 0 }
  require(again.metadata == file.metadata, "metadata changed")
  require(again.intTensors == file.intTensors, "integer tensors changed")
  require(Set(again.tensors.keys) == Set(file.tensors.keys), "tensor names changed")
  for (name, t) in file.tensors {
    let u = again.tensors[name]!
    require(u.shape == t.shape, "shape of \(name) changed")
    require(t.scalars.map(\.bitPattern) == u.scalars.map(\.bitPattern), "values of \(name) changed")
  }
  _ = file.firstNonFinite
  return 0
}
