// GPT-2 BPE tokenizer on arbitrary bytes. First byte even: the rest, as text (invalid UTF-8 repaired), is
// encoded with a small byte-level vocabulary and must decode back to the same bytes, with every id in the
// vocabulary; the bytes are also decoded as ids. First byte odd: the rest is split at the first NUL into
// vocab.json and merges.txt, parsed as BPETokenizer(vocabularyData:mergesData:) does; an accepted tokenizer
// must round-trip a fixed text.
import Foundation
import GPT

private let small: BPETokenizer = {
  let printable = Array(33...126) + Array(161...172) + Array(174...255)
  let order = printable + (0..<256).filter { !printable.contains($0) }
  var vocab: [String: Int] = [:]
  for (id, byte) in order.enumerated() { vocab[String(ByteLevelAlphabet.scalarForByte[byte])] = id }
  let merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r"), ("Ġ", "a"), ("o", "u"), ("Ġa", "n"),
                ("in", "g"), ("Ã", "©")]
  for (left, right) in merges where vocab[left + right] == nil { vocab[left + right] = vocab.count }
  vocab["<|endoftext|>"] = vocab.count
  return try! BPETokenizer(vocabulary: vocab, merges: merges)
}()

private let probe = "Hello, the thing in the inner ring — é 😀\n\t  x"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBPE(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let bytes = input(data + 1, size - 1)
  if data[0] & 1 == 0 {
    roundTrip(small, String(decoding: bytes, as: UTF8.self))
    let ids = bytes.withUnsafeBytes { raw in (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) } }
    _ = small.decode(ids)
  } else {
    let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
    let vocab = bytes[bytes.startIndex..<split]
    let merges = split < bytes.endIndex ? bytes[(split + 1)...] : Data()
    if let tokenizer = accepted({ try BPETokenizer(vocabularyData: Data(vocab), mergesData: Data(merges)) }) {
      roundTrip(tokenizer, probe)
    }
  }
  return 0
}

private func roundTrip(_ tokenizer: BPETokenizer, _ text: String) {
  let ids = tokenizer.encode(text)
  require(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize }, "id outside the vocabulary")
  require(tokenizer.decodeBytes(ids) == Array(text.utf8), "decode(encode(text)) differs from text")
}
