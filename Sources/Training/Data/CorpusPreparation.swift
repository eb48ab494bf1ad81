import Foundation
import GPT

/// What a preparation wrote.
public struct PreparationSummary: Codable, Equatable, Sendable {
  /// Tokenizer name ("ascii", "gpt2").
  public var tokenizer: String
  public var vocabularySize: Int
  /// Unicode scalars in the corpus (Python's `len`).
  public var characters: Int
  /// Scalars in the train part (the rest is val).
  public var trainCharacters: Int
  public var trainTokens: Int
  public var valTokens: Int
  /// File names written, train shards first.
  public var shards: [String]
  /// The output directory.
  public var directory: String

  public init(tokenizer: String, vocabularySize: Int, characters: Int, trainCharacters: Int,
              trainTokens: Int, valTokens: Int, shards: [String], directory: String) {
    self.tokenizer = tokenizer
    self.vocabularySize = vocabularySize
    self.characters = characters
    self.trainCharacters = trainCharacters
    self.trainTokens = trainTokens
    self.valTokens = valTokens
    self.shards = shards
    self.directory = directory
  }

  enum CodingKeys: String, CodingKey {
    case tokenizer, vocabularySize = "vocab_size", characters, trainCharacters = "train_characters"
    case trainTokens = "train_tokens", valTokens = "val_tokens", shards, directory
  }
}

/// Splits a text corpus into train and val the way the reference's Shakespeare preparation does, encodes
/// each part and writes them as token shards.
///
/// The train part is the first `floor((1 − valFraction) · chars)` characters rounded down to a multiple of
/// 256 (characters = Unicode scalars); val is the rest. Each part is encoded separately and written as
/// `<split>_000000.npy`, `<split>_000001.npy`, … of at most `shardTokens` tokens (uint16 when V ≤ 65536,
/// else int32).
public struct CorpusPreparation {
  public var tokenizer: any Tokenizer
  /// Fraction of characters (before rounding the split point) that go to val; in (0, 1).
  public var valFraction: Double
  /// Largest number of tokens per shard file.
  public var shardTokens: Int

  public init(tokenizer: any Tokenizer, valFraction: Double = 0.1, shardTokens: Int = 100_000_000) {
    self.tokenizer = tokenizer
    self.valFraction = valFraction
    self.shardTokens = shardTokens
  }

  /// Number of train characters for a corpus of `characters` scalars.
  public static func trainCharacterCount(characters: Int, valFraction: Double) -> Int {
    // Python: int(len(corpus) * 0.9), then minus its remainder mod 256.
    let length = Int((Double(characters) * (1 - valFraction)).rounded(.towardZero))
    return length - length % 256
  }

  /// Splits, encodes and writes `text` into `directory` (created if needed).
  public func prepare(text: String, directory: URL) throws -> PreparationSummary {
    guard valFraction > 0 && valFraction < 1 else {
      throw DataError("the val fraction must be between 0 and 1 (exclusive), got \(valFraction)")
    }
    guard shardTokens > 0 else { throw DataError("the shard size must be a positive number of tokens, got \(shardTokens)") }
    let scalars = text.unicodeScalars
    let characters = scalars.count
    let trainLength = Self.trainCharacterCount(characters: characters, valFraction: valFraction)
    guard trainLength > 0 && trainLength < characters else {
      throw DataError("a corpus of \(characters) characters is too small to split into train and val (train would get \(trainLength))")
    }
    let splitIndex = scalars.index(scalars.startIndex, offsetBy: trainLength)
    let trainText = String(String.UnicodeScalarView(scalars[..<splitIndex]))
    let valText = String(String.UnicodeScalarView(scalars[splitIndex...]))
    let trainTokens = tokenizer.encode(trainText)
    let valTokens = tokenizer.encode(valText)
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create output directory \(directory.path) (\(error.localizedDescription))")
    }
    let V = tokenizer.vocabularySize
    let trainShards = try TokenShards.write(trainTokens, split: .train, vocabularySize: V, shardTokens: shardTokens, to: directory)
    let valShards = try TokenShards.write(valTokens, split: .val, vocabularySize: V, shardTokens: shardTokens, to: directory)
    return PreparationSummary(
      tokenizer: tokenizer.name, vocabularySize: V, characters: characters, trainCharacters: trainLength,
      trainTokens: trainTokens.count, valTokens: valTokens.count, shards: trainShards + valShards,
      directory: directory.path)
  }
}
