// .npy reader: NPY.decode on arbitrary bytes (and Tensor(npy:) on what it accepts). What it accepts must
// re-encode to bytes that decode to the same array.
import Foundation
import Tensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let array: NPYArray
  do {
    array = try NPY.decode(input(data, size), source: "input")
  } catch {
    requireOneLine(error)
    return 0
  }
  do {
    let again = try NPY.decode(NPY.encode(array), source: "re-encoded")
    require(again.shape == array.shape, "shape changed")
    require(again.data.count == array.data.count, "count changed")
    require(NPY.encode(again) == NPY.encode(array), "bytes changed")
  } catch {
    require(false, "re-encoded array does not decode: \(error)")
  }
  do {
    let t = try Tensor(npy: array)
    require(t.shape == array.shape, "tensor shape differs")
  } catch {
    requireOneLine(error)
  }
  return 0
}
