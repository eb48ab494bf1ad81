/// Maps text to token ids and back.
public protocol Tokenizer: Sendable {
  /// Short identifier of the encoding ("ascii", "gpt2").
  var name: String { get }
  /// Number of distinct token ids (V); every id produced by `encode` is in `0..<vocabularySize`.
  var vocabularySize: Int { get }
  /// The token ids of `text`.
  func encode(_ text: String) -> [Int32]
  /// The text of `ids`; ids the tokenizer does not know decode to a replacement character.
  func decode(_ ids: [Int32]) -> String
}

/// A one-line error about tokenizer files or settings.
public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What went wrong, on one line, naming the file when there is one.
  public var description: String

  public init(_ description: String) {
    self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
  }
}
