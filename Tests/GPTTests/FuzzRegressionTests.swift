import Foundation
import Testing
import TestSupport
@testable import GPT

/// The model.json, BPE and ASCII fuzz harnesses' seeds and regression inputs (`FuzzInputs`) through the same
/// entry points: seeds are accepted, regression inputs accepted or refused on one line; nothing traps.
@Suite struct FuzzRegressionTests {
  @Test func modelJSONInputs() throws {
    let inputs = try FuzzInputs.all("ModelJSON")
    #expect(inputs.count >= 3, "the fuzz seeds were not found")
    for input in inputs {
      do {
        let config = try GPTCheckpoint.decodeConfig(input.data, source: input.name)
        #expect(try GPTCheckpoint.decodeConfig(try GPTCheckpoint.configJSON(config), source: input.name).nEmbd == config.nEmbd)
        try GPTCheckpoint.checkSize(config, weightsBytes: 1 << 30, source: input.name)
      } catch {
        #expect(input.regression && !"\(error)".contains("\n"), "\(input.name): \(error)")
      }
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
    let inputs = try FuzzInputs.all("BPETokenizer") + FuzzInputs.all("ASCIITokenizer")
    #expect(inputs.count >= 5, "the fuzz seeds were not found")
    let ascii = ASCIITokenizer()
    for input in inputs {
      let text = String(decoding: input.data, as: UTF8.self)
      #expect(ascii.encode(text).count == text.unicodeScalars.count)
      guard input.name.contains("/BPETokenizer/"), input.data.first.map({ $0 & 1 == 1 }) == true else { continue }
      let body = input.data.dropFirst()
      let split = body.firstIndex(of: 0) ?? body.endIndex
      do {
        let bpe = try BPETokenizer(vocabularyData: Data(body[body.startIndex..<split]),
                                   mergesData: split < body.endIndex ? Data(body[(split + 1)...]) : Data())
        let probe = "Hello, the thing — é 😀"
        #expect(bpe.decodeBytes(bpe.encode(probe)) == Array(probe.utf8))
      } catch {
        #expect(input.regression && !"\(error)".contains("\n"), "\(input.name): \(error)")
      }
    }
  }
}
