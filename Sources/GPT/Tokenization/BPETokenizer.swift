import Foundation

/// GPT-2's byte-level byte-pair encoding (tiktoken's "gpt2" encoding), defined by a `vocab.json` +
/// `merges.txt` pair.
///
/// Text is split by `GPT2PreTokenizer`; each piece's UTF-8 bytes are merged as tiktoken does: a piece that is
/// itself a vocabulary entry is one token; otherwise, starting from single bytes, the adjacent pair whose
/// concatenation has the lowest rank is merged (leftmost on ties) until no pair is mergeable. A token's rank
/// is its id (for GPT-2's files, byte tokens then merge results in merges.txt order).
///
/// Vocabulary entries that are not single bytes or merge results (GPT-2's `<|endoftext|>`) are special
/// tokens: they decode to their text but `encode` never produces them — text like "<|endoftext|>" is encoded
/// as ordinary text (tiktoken's `encode_ordinary`).
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
  public let name: String
  public let vocabularySize: Int
  /// Ids of the special tokens, by their text.
  public let specialTokens: [String: Int32]

  /// Id of each mergeable byte string (its rank).
  private let ranks: [[UInt8]: Int32]
  /// The bytes of each id (`nil` for gaps in the id range).
  private let bytesForID: [[UInt8]?]
  /// Piece bytes → ids, for pieces seen before.
  private var cache: [[UInt8]: [Int32]] = [:]
  private let cacheLock = NSLock()
  private static let cacheLimit = 200_000

  /// Loads GPT-2-style files: `vocab.json` maps token text (bytes written in `ByteLevelAlphabet`) to ids;
  /// `merges.txt` lists merges, one "left right" pair per line, after an optional `#version` line.
  public convenience init(vocabulary: URL, merges: URL, name: String = "gpt2") throws {
    try self.init(vocabularyData: try Self.readFile(vocabulary, role: "vocabulary"),
                  mergesData: try Self.readFile(merges, role: "merges"), name: name,
                  vocabularySource: vocabulary.path, mergesSource: merges.path)
  }

  /// A tokenizer from the bytes of `vocab.json` and `merges.txt`; errors name the sources.
  public convenience init(vocabularyData: Data, mergesData: Data, name: String = "gpt2",
                          vocabularySource: String = "vocab.json", mergesSource: String = "merges.txt") throws {
    let vocab: [String: Int]
    do {
      vocab = try JSONDecoder().decode([String: Int].self, from: vocabularyData)
    } catch {
      throw TokenizerError("\(vocabularySource): not a JSON object of token → id (\(Self.oneLine(error)))")
    }
    guard let mergesText = String(data: mergesData, encoding: .utf8) else {
      throw TokenizerError("\(mergesSource): not valid UTF-8 text")
    }
    var pairs: [(String, String)] = []
    for (index, rawLine) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
      if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
      let parts = line.split(separator: " ", omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw TokenizerError("\(mergesSource): line \(index + 1) is not a 'left right' merge pair: \(line.prefix(60))")
      }
      pairs.append((String(parts[0]), String(parts[1])))
    }
    try self.init(vocabulary: vocab, merges: pairs, name: name, source: vocabularySource)
  }

  /// A tokenizer from an in-memory vocabulary (token text → id) and merge list; `source` names them in errors.
  public init(vocabulary: [String: Int], merges: [(String, String)], name: String = "gpt2",
              source: String = "vocabulary") throws {
    guard !vocabulary.isEmpty else { throw TokenizerError("\(source): the vocabulary is empty") }
    var maxID = 0
    for (token, id) in vocabulary {
      guard id >= 0 && id < Int(Int32.max) else {
        throw TokenizerError("\(source): token \(token.debugDescription) has invalid id \(id)")
      }
      maxID = max(maxID, id)
    }
    guard maxID < 10_000_000 else { throw TokenizerError("\(source): id \(maxID) is implausibly large") }
    var ranks: [[UInt8]: Int32] = [:]
    ranks.reserveCapacity(vocabulary.count)
    for byte in 0..<256 {
      let text = String(ByteLevelAlphabet.scalarForByte[byte])
      guard let id = vocabulary[text] else {
        throw TokenizerError("\(source): no token for byte \(byte) (\(text.debugDescription)); not a byte-level vocabulary")
      }
      ranks[[UInt8(byte)]] = Int32(id)
    }
    for (index, (left, right)) in merges.enumerated() {
      guard let leftBytes = ByteLevelAlphabet.bytes(of: left), let rightBytes = ByteLevelAlphabet.bytes(of: right) else {
        throw TokenizerError("\(source): merge \(index + 1) (\(left) \(right)) uses characters outside the byte-level alphabet")
      }
      guard let id = vocabulary[left + right] else {
        throw TokenizerError("\(source): merge \(index + 1) (\(left) \(right)) produces \((left + right).debugDescription), which is not in the vocabulary")
      }
      let merged = leftBytes + rightBytes
      if ranks[merged] == nil { ranks[merged] = Int32(id) }
    }
    var bytesForID = [[UInt8]?](repeating: nil, count: maxID + 1)
    for (bytes, id) in ranks {
      if let existing = bytesForID[Int(id)], existing != bytes {
        throw TokenizerError("\(source): id \(id) is used by two tokens")
      }
      bytesForID[Int(id)] = bytes
    }
    var specials: [String: Int32] = [:]
    for (token, id) in vocabulary where bytesForID[id] == nil {
      specials[token] = Int32(id)
      bytesForID[id] = Array(token.utf8)
    }
    self.name = name
    self.ranks = ranks
    self.bytesForID = bytesForID
    self.specialTokens = specials
    self.vocabularySize = maxID + 1
  }

  public func encode(_ text: String) -> [Int32] {
    let scalars = Array(text.unicodeScalars)
    var ids: [Int32] = []
    ids.reserveCapacity(text.utf8.count / 3 + 1)
    var piece: [UInt8] = []
    for range in GPT2PreTokenizer.pieces(of: scalars) {
      piece.removeAll(keepingCapacity: true)
      for scalar in scalars[range] { piece.append(contentsOf: scalar.utf8) }
      ids.append(contentsOf: encodePiece(piece))
    }
    return ids
  }

  /// The ids of one pre-tokenised piece's bytes.
  func encodePiece(_ piece: [UInt8]) -> [Int32] {
    if let id = ranks[piece] { return [id] }
    cacheLock.lock()
    let cached = cache[piece]
    cacheLock.unlock()
    if let cached { return cached }
    let ids = mergePiece(piece)
    cacheLock.lock()
    if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
    cache[piece] = ids
    cacheLock.unlock()
    return ids
  }

  /// Byte-pair merging of one piece (at least two bytes, not itself a token).
  private func mergePiece(_ piece: [UInt8]) -> [Int32] {
    // starts[k] is where part k begins; part k ends where part k+1 begins (the last entry is piece.count).
    var starts = Array(0...piece.count)
    // pairRank[k]: rank of part k joined with part k+1, or Int32.max.
    func rank(_ k: Int) -> Int32 {
      guard k + 2 < starts.count else { return .max }
      return ranks[Array(piece[starts[k]..<starts[k + 2]])] ?? .max
    }
    var pairRank = (0..<(starts.count - 1)).map { rank($0) }
    while true {
      var best = Int32.max
      var at = -1
      for k in 0..<pairRank.count where pairRank[k] < best {
        best = pairRank[k]
        at = k
      }
      if at < 0 { break }
      starts.remove(at: at + 1)
      pairRank.remove(at: at + 1)
      pairRank[at] = rank(at)
      if at > 0 { pairRank[at - 1] = rank(at - 1) }
    }
    var ids: [Int32] = []
    ids.reserveCapacity(starts.count - 1)
    for k in 0..<(starts.count - 1) {
      // Every part is a single byte or a merge result, both of which have ranks.
      ids.append(ranks[Array(piece[starts[k]..<starts[k + 1]])]!)
    }
    return ids
  }

  /// The UTF-8 text of the ids' bytes; invalid UTF-8 and unknown ids become U+FFFD.
  public func decode(_ ids: [Int32]) -> String {
    String(decoding: decodeBytes(ids), as: UTF8.self)
  }

  /// The concatenated bytes of the ids; unknown ids contribute the UTF-8 bytes of U+FFFD.
  public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(ids.count * 4)
    for id in ids {
      if id >= 0, Int(id) < bytesForID.count, let bytes = bytesForID[Int(id)] {
        out.append(contentsOf: bytes)
      } else {
        out.append(contentsOf: [0xef, 0xbf, 0xbd])
      }
    }
    return out
  }

  private static func readFile(_ url: URL, role: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw TokenizerError("\(url.path): no such \(role) file")
    }
    guard !isDirectory.boolValue else { throw TokenizerError("\(url.path): is a directory, not a \(role) file") }
    do {
      return try Data(contentsOf: url)
    } catch {
      throw TokenizerError("\(url.path): cannot read the \(role) file (\(oneLine(error)))")
    }
  }

  private static func oneLine(_ error: Error) -> String {
    String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ").prefix(200).description
  }
}
