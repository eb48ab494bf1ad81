import Foundation

/// The tokenizers a tool can be asked for by name.
public enum TokenizerKind: String, Codable, CaseIterable, Sendable {
  /// `ASCIITokenizer` (V = 128).
  case ascii
  /// `BPETokenizer` with GPT-2's `vocab.json` and `merges.txt` (tiktoken's "gpt2", V = 50257).
  case gpt2

  /// A tokenizer of this kind; `gpt2` needs both vocabulary files, `ascii` accepts none.
  public func makeTokenizer(vocabulary: URL? = nil, merges: URL? = nil) throws -> any Tokenizer {
    switch self {
    case .ascii:
      guard vocabulary == nil, merges == nil else {
        throw TokenizerError("the ascii tokenizer takes no vocabulary or merges file")
      }
      return ASCIITokenizer()
    case .gpt2:
      guard let vocabulary, let merges else {
        throw TokenizerError("the gpt2 tokenizer needs both a vocab.json and a merges.txt file")
      }
      return try BPETokenizer(vocabulary: vocabulary, merges: merges)
    }
  }
}
