import Foundation
import Testing
import TestSupport
@testable import GPT

/// The model.json, BPE and ASCII fuzz harnesses' seeds and regression inputs (`FuzzInputs`) through the same
/// entry points: seeds are accepted, regression inputs accepted or refused on one line; nothing traps.
@Suite struct FuzzRegressionTests {
  @Test func modelJSONInputs() throws {
    try FuzzInputs.replay("ModelJSON", minimum: 3) { name, data in
      let config = try GPTCheckpoint.decodeConfig(data, source: name)
      #expect(try GPTCheckpoint.decodeConfig(try GPTCheckpoint.configJSON(config), source: name).nEmbd == config.nEmbd)
      try GPTCheckpoint.checkSize(config, weightsBytes: 1 << 30, source: name)
    }
    // The size check refuses a model.json whose weights cannot fit its file, before anything is allocated.
    let huge = GPTConfig(blockSize: 8, vocabSize: 8, nLayer: 1, nHead: 1, nEmbd: 1 << 40)
    #expect(huge.minimumWeightCount == nil)
    #expect(throws: GPTError.self) { try GPTCheckpoint.checkSize(huge, weightsBytes: 1 << 20, source: "w") }
    let small = GPTConfig(blockSize: 8, vocabSize: 10, nLayer: 2, nHead: 1, nEmbd: 4)
    #expect(small.minimumWeightCount == (10 + 8) * 4 + 2 * 12 * 16)
    try GPTCheckpoint.checkSize(small, weightsBytes: 2 * 456, source: "w")
    #expect(throws: GPTError.self) { try GPTCheckpoint.checkSize(small, weightsBytes: 2 * 456 - 2, source: "w") }
  }

  @Test func tokenizerInputs() throws {
    let ascii = ASCIITokenizer()
    try FuzzInputs.replay("ASCIITokenizer", minimum: 2) { _, data in
      let text = String(decoding: data, as: UTF8.self)
      #expect(ascii.encode(text).count == text.unicodeScalars.count)
    }
    try FuzzInputs.replay("BPETokenizer", minimum: 3) { _, data in
      // First byte odd: vocab.json NUL merges.txt (the harness's parsing mode).
      guard let mode = data.first, mode & 1 == 1 else { return }
      let body = data.dropFirst()
      let split = body.firstIndex(of: 0) ?? body.endIndex
      let bpe = try BPETokenizer(vocabularyData: Data(body[body.startIndex..<split]),
                                 mergesData: split < body.endIndex ? Data(body[(split + 1)...]) : Data())
      let probe = "Hello, the thing — é 😀"
      #expect(bpe.decodeBytes(bpe.encode(probe)) == Array(probe.utf8))
    }
  }
}
