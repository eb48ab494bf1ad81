// .npy reader: NPY.decode on arbitrary bytes (and Tensor(npy:) on what it accepts). What it accepts must
// re-encode to bytes that decode to the same array.
import Foundation
import Tensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let array = accepted({ try NPY.decode(input(data, size), source: "input") }) else { return 0 }
  if let again = mustSucceed("decoding the re-encoded array", { try NPY.decode(NPY.encode(array), source: "re-encoded") }) {
    require(again.shape == array.shape, "shape changed")
    require(again.data.count == array.data.count, "count changed")
    require(NPY.encode(again) == NPY.encode(array), "bytes changed")
  }
  if let t = accepted({ try Tensor(npy: array) }) { require(t.shape == array.shape, "tensor shape differs") }
  return 0
}
