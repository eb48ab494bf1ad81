// ASCII tokenizer on arbitrary bytes: the bytes as text (invalid UTF-8 repaired) encode to one id per
// Unicode scalar, each < 128, and ASCII text round-trips; the bytes as ids decode to one character each.
import Foundation
import GPT

private let tokenizer = ASCIITokenizer()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzASCII(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = input(data, size)
  let text = String(decoding: bytes, as: UTF8.self)
  let ids = tokenizer.encode(text)
  require(ids.count == text.unicodeScalars.count, "not one id per scalar")
  require(ids.allSatisfy { $0 >= 0 && $0 < 128 }, "id outside 0..<128")
  if bytes.allSatisfy({ $0 < 128 }) {
    require(tokenizer.decode(ids).unicodeScalars.elementsEqual(text.unicodeScalars), "ASCII text does not round-trip")
  }
  let asIDs = bytes.map { Int32(Int8(bitPattern: $0)) * 3 }
  require(tokenizer.decode(asIDs).unicodeScalars.count == asIDs.count, "not one character per id")
  return 0
}
