import Foundation
import Testing
import TestSupport
@testable import GPT

@Suite struct TokenizerTests {
  // MARK: ASCII

  @Test func asciiRoundTripsASCIIText() {
    let tokenizer = ASCIITokenizer()
    let text = "Fox:\nThe quick brown fox jumps over the lazy dog.\t~{}|\u{7f}\u{0}"
    let ids = tokenizer.encode(text)
    #expect(ids.count == text.unicodeScalars.count)
    #expect(ids.prefix(5) == [70, 111, 120, 58, 10])
    #expect(tokenizer.decode(ids) == text)
    #expect(tokenizer.vocabularySize == 128)
    #expect(tokenizer.name == "ascii")
  }

  @Test func asciiSubstitutesQuestionMarkPerScalar() {
    let tokenizer = ASCIITokenizer()
    // "é" precomposed is one scalar; "e" + combining acute is two (as Python iterates code points).
    #expect(tokenizer.encode("caf\u{e9}") == [99, 97, 102, 63])
    #expect(tokenizer.encode("cafe\u{301}") == [99, 97, 102, 101, 63])
    #expect(tokenizer.encode("😀") == [63])
    #expect(tokenizer.encode("\r\n") == [13, 10])
    #expect(tokenizer.decode([104, 105, 200, -1]) == "hi??")
  }

  // MARK: Byte-level alphabet and pre-tokenizer

  @Test func byteLevelAlphabetMatchesGPT2() {
    #expect(ByteLevelAlphabet.scalarForByte[32] == "\u{120}")  // "Ġ"
    #expect(ByteLevelAlphabet.scalarForByte[10] == "\u{10a}")  // "Ċ"
    #expect(ByteLevelAlphabet.scalarForByte[0] == "\u{100}")
    #expect(ByteLevelAlphabet.scalarForByte[127] == "\u{121}")
    #expect(ByteLevelAlphabet.scalarForByte[173] == "\u{143}")
    #expect(ByteLevelAlphabet.scalarForByte[65] == "A")
    #expect(ByteLevelAlphabet.scalarForByte[0xe9] == "\u{e9}")
    #expect(Set(ByteLevelAlphabet.scalarForByte).count == 256)
    #expect(ByteLevelAlphabet.bytes(of: "Ġhello") == [32, 104, 101, 108, 108, 111])
    #expect(ByteLevelAlphabet.bytes(of: "<|x") == [60, 124, 120])
    #expect(ByteLevelAlphabet.bytes(of: " ") == nil)
  }

  /// Expected pieces computed with Python's `regex` module and GPT-2's pattern.
  @Test(arguments: [
    ("Hello world", ["Hello", " world"]),
    ("it's we'll've I'M they'RE ''s", ["it", "'s", " we", "'ll", "'ve", " I", "'", "M", " they", "'", "RE", " ''", "s"]),
    ("a  b", ["a", " ", " b"]),
    ("a\n\nb", ["a", "\n", "\n", "b"]),
    ("x   ", ["x", "   "]),
    ("abc 123 4567", ["abc", " 123", " 4567"]),
    ("  hi", [" ", " hi"]),
    ("\t\tfoo", ["\t", "\t", "foo"]),
    ("h\u{e9}llo w\u{f6}rld 日本語 😀!!", ["h\u{e9}llo", " w\u{f6}rld", " 日本語", " 😀!!"]),
    ("e\u{301}t\u{e9}", ["e", "\u{301}", "t\u{e9}"]),
    (" \u{a0}x", [" ", "\u{a0}", "x"]),
    ("a\u{3000}b", ["a", "\u{3000}", "b"]),
    ("3.14, -7", ["3", ".", "14", ",", " -", "7"]),
    ("x\n", ["x", "\n"]),
    (" ", [" "]),
    ("", []),
  ] as [(String, [String])])
  func preTokenizerMatchesGPT2Pattern(text: String, expected: [String]) {
    let pieces = GPT2PreTokenizer.pieces(of: text)
    // Compare scalar by scalar: Swift's String == would equate canonically equivalent texts.
    #expect(pieces.map { Array($0.unicodeScalars) } == expected.map { Array($0.unicodeScalars) })
  }

  // MARK: BPE on a tiny vocabulary

  /// GPT-2's byte order for ids 0…255 (printable bytes first), written independently of ByteLevelAlphabet.
  static let byteOrder: [Int] = {
    let printable = Array(33...126) + Array(161...172) + Array(174...255)
    return printable + (0..<256).filter { !printable.contains($0) }
  }()

  static func symbol(_ byte: Int) -> String {
    let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
    if printable { return String(Unicode.Scalar(UInt32(byte))!) }
    let rank = (0..<256).filter { !((33...126).contains($0) || (161...172).contains($0) || (174...255).contains($0)) }
      .firstIndex(of: byte)!
    return String(Unicode.Scalar(UInt32(256 + rank))!)
  }

  static let merges: [(String, String)] = [
    ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("'", "s"), ("1", "2"),
    ("Ã", "©"), ("e", "r"), ("Ġ", "Ġ"), ("Ċ", "Ċ"), ("l", "l"), ("e", "l"),
  ]

  /// Writes vocab.json (bytes, then merge results, then "<|endoftext|>") and merges.txt into a temp folder.
  static func writeTinyFiles() throws -> (vocab: URL, merges: URL, ids: [String: Int]) {
    var ids: [String: Int] = [:]
    for (index, byte) in byteOrder.enumerated() { ids[symbol(byte)] = index }
    for (index, (a, b)) in merges.enumerated() { ids[a + b] = 256 + index }
    ids["<|endoftext|>"] = 256 + merges.count
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let vocab = folder.appendingPathComponent("vocab.json")
    let mergesURL = folder.appendingPathComponent("merges.txt")
    try JSONSerialization.data(withJSONObject: ids).write(to: vocab)
    let text = "#version: 0.2\n" + merges.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n"
    try Data(text.utf8).write(to: mergesURL)
    return (vocab, mergesURL, ids)
  }

  static func tiny() throws -> (BPETokenizer, (String) -> Int32) {
    let files = try writeTinyFiles()
    let tokenizer = try BPETokenizer(vocabulary: files.vocab, merges: files.merges)
    try? FileManager.default.removeItem(at: files.vocab.deletingLastPathComponent())
    return (tokenizer, { Int32(files.ids[$0]!) })
  }

  @Test func bpeMergesByRank() throws {
    let (bpe, id) = try Self.tiny()
    #expect(bpe.vocabularySize == 256 + Self.merges.count + 1)
    #expect(bpe.specialTokens == ["<|endoftext|>": Int32(256 + Self.merges.count)])
    // "hello": h-e (rank 257) merges before l-l (267); e-l (268) never gets a chance.
    #expect(bpe.encode("hello") == [id("he"), id("ll"), id("o")])
    // " the" is a vocabulary entry; " then" merges Ġt, then he, then Ġt+he.
    #expect(bpe.encode(" the") == [id("Ġthe")])
    #expect(bpe.encode(" then") == [id("Ġthe"), id("n")])
    #expect(bpe.encode("in the") == [id("in"), id("Ġthe")])
  }

  @Test func bpeLeadingAndRepeatedWhitespace() throws {
    let (bpe, id) = try Self.tiny()
    #expect(bpe.encode(" a") == [id("Ġa")])
    // "a  b" → "a", " ", " b": the run keeps its last space for the next word.
    #expect(bpe.encode("a  b") == [id("a"), id("Ġ"), id("Ġ"), id("b")])
    // Three spaces then a word: "  " (merged ĠĠ) + " a".
    #expect(bpe.encode("   a") == [id("ĠĠ"), id("Ġa")])
    // Newlines: "\n\n" followed by a letter splits into "\n" + "\n"; at the end of text it stays one run.
    #expect(bpe.encode("x\n\ny") == [id("x"), id("Ċ"), id("Ċ"), id("y")])
    #expect(bpe.encode("x\n\n") == [id("x"), id("ĊĊ")])
    #expect(bpe.encode("x   ") == [id("x"), id("ĠĠ"), id("Ġ")])
  }

  @Test func bpeContractionsDigitsAndUnicode() throws {
    let (bpe, id) = try Self.tiny()
    #expect(bpe.encode("it's") == [id("i"), id("t"), id("'s")])
    #expect(bpe.encode("I'M") == [id("I"), id("'"), id("M")])
    #expect(bpe.encode("123 12") == [id("12"), id("3"), id("Ġ"), id("12")])
    // "é" is C3 A9 → the merged token "Ã©"; an emoji is four byte tokens.
    #expect(bpe.encode("\u{e9}") == [id("Ã©")])
    #expect(bpe.encode("😀") == [0xf0, 0x9f, 0x98, 0x80].map { id(Self.symbol($0)) })
    // "<|endoftext|>" in text is ordinary text, never the special id.
    #expect(!bpe.encode("<|endoftext|>").contains(id("<|endoftext|>")))
    #expect(bpe.decode([id("<|endoftext|>")]) == "<|endoftext|>")
  }

  @Test(arguments: [
    "Hello, world! It's 2024.\n\n  Indented\tand\ttabbed   \n",
    "h\u{e9}llo w\u{f6}rld — 日本語テキスト 😀👍🏽 e\u{301} \u{a0}\u{3000}",
    "'s 're 've 'm 'll 'd ''' \"quoted\" 3.14159 1e-9",
    "",
  ])
  func bpeRoundTrips(text: String) throws {
    let (bpe, _) = try Self.tiny()
    let decoded = bpe.decode(bpe.encode(text))
    #expect(Array(decoded.unicodeScalars) == Array(text.unicodeScalars))
  }

  @Test func bpeDecodeReplacesBrokenUTF8AndUnknownIDs() throws {
    let (bpe, id) = try Self.tiny()
    #expect(bpe.decode([id("a"), id(Self.symbol(0xf0))]) == "a\u{fffd}")
    #expect(bpe.decode([id("a"), 99_999, -3]) == "a\u{fffd}\u{fffd}")
  }

  @Test func bpeFileErrorsAreOneLine() throws {
    let files = try Self.writeTinyFiles()
    let folder = files.vocab.deletingLastPathComponent()
    defer { try? FileManager.default.removeItem(at: folder) }
    let missing = folder.appendingPathComponent("nope.json")
    func message(_ body: () throws -> Void) -> String? {
      do { try body() } catch { return String(describing: error) }
      return nil
    }
    let noFile = message { _ = try BPETokenizer(vocabulary: missing, merges: files.merges) }
    #expect(noFile?.contains("nope.json") == true && noFile?.contains("no such") == true)
    let corrupt = folder.appendingPathComponent("corrupt.json")
    try Data("{\"a\": 1,".utf8).write(to: corrupt)
    let badJSON = message { _ = try BPETokenizer(vocabulary: corrupt, merges: files.merges) }
    #expect(badJSON?.contains("corrupt.json") == true)
    let badMerges = folder.appendingPathComponent("bad-merges.txt")
    try Data("#version: 0.2\nĠ t\nthree parts here\n".utf8).write(to: badMerges)
    let badLine = message { _ = try BPETokenizer(vocabulary: files.vocab, merges: badMerges) }
    #expect(badLine?.contains("line 3") == true)
    let unknownMerge = folder.appendingPathComponent("unknown-merges.txt")
    try Data("q z\n".utf8).write(to: unknownMerge)
    let notInVocab = message { _ = try BPETokenizer(vocabulary: files.vocab, merges: unknownMerge) }
    #expect(notInVocab?.contains("not in the vocabulary") == true)
    for text in [noFile, badJSON, badLine, notInVocab] { #expect(text?.contains("\n") == false) }
  }

  // MARK: Real GPT-2 files (optional)

  /// Folder with GPT-2's vocab.json and merges.txt, from the environment variable GPT2_BPE_DIR.
  static let gpt2Directory: URL? = ProcessInfo.processInfo.environment["GPT2_BPE_DIR"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }

  struct ExpectedCase: Decodable {
    var text: String
    var ids: [Int32]
  }

  struct ExpectedFile: Decodable {
    var cases: [ExpectedCase]
  }

  /// Compares with tiktoken's "gpt2" ids in Tests/Fixtures/gpt2-bpe-expected.json (written by
  /// make_gpt2_bpe_fixture.py). The real vocabulary files are too large to commit: `scripts/fetch-gpt2-bpe.sh`
  /// fetches them from PyPI, and CI (`.ci/run`) sets GPT2_BPE_DIR to its output; without it the test is
  /// skipped, except in CI, where it fails.
  @Test(SharedData.required(gpt2Directory != nil,
                            "GPT2_BPE_DIR is not set (a folder with GPT-2's vocab.json and merges.txt: GPT2_BPE_DIR=$(scripts/fetch-gpt2-bpe.sh))"))
  func bpeMatchesTiktokenGPT2() throws {
    let directory = try #require(Self.gpt2Directory, "GPT2_BPE_DIR is not set (CI sets it with scripts/fetch-gpt2-bpe.sh)")
    let bpe = try BPETokenizer(vocabulary: directory.appendingPathComponent("vocab.json"),
                               merges: directory.appendingPathComponent("merges.txt"))
    #expect(bpe.vocabularySize == 50257)
    #expect(bpe.specialTokens == ["<|endoftext|>": 50256])
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../Fixtures/gpt2-bpe-expected.json")
    let expected = try JSONDecoder().decode(ExpectedFile.self, from: Data(contentsOf: fixture))
    #expect(expected.cases.count >= 10)
    for item in expected.cases {
      #expect(bpe.encode(item.text) == item.ids, "\(item.text.debugDescription)")
      #expect(Array(bpe.decode(item.ids).unicodeScalars) == Array(item.text.unicodeScalars))
    }
  }

  @Test func tokenizerKindBuildsTokenizers() throws {
    #expect(try TokenizerKind.ascii.makeTokenizer().name == "ascii")
    #expect(throws: TokenizerError.self) { _ = try TokenizerKind.gpt2.makeTokenizer() }
    let files = try Self.writeTinyFiles()
    defer { try? FileManager.default.removeItem(at: files.vocab.deletingLastPathComponent()) }
    let bpe = try TokenizerKind.gpt2.makeTokenizer(vocabulary: files.vocab, merges: files.merges)
    #expect(bpe.name == "gpt2" && bpe.vocabularySize == 270)
    #expect(TokenizerKind(rawValue: "gpt2") == .gpt2 && TokenizerKind(rawValue: "bpe") == nil)
  }
}
