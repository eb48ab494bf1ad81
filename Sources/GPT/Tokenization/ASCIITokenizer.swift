/// One token per Unicode scalar: the scalar's value when below 128, otherwise the id of "?" (V = 128).
///
/// Scalars, not grapheme clusters, are the unit (as Python iterates a `str`): "e" followed by a combining
/// accent is two tokens.
public struct ASCIITokenizer: Tokenizer, Equatable {
  /// The id that stands for every scalar outside ASCII.
  public static let replacementID: Int32 = 63  // "?"

  public var name: String { "ascii" }
  public var vocabularySize: Int { 128 }

  public init() {}

  public func encode(_ text: String) -> [Int32] {
    var ids: [Int32] = []
    ids.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      ids.append(scalar.value < 128 ? Int32(scalar.value) : Self.replacementID)
    }
    return ids
  }

  /// The characters of `ids`; ids outside `0..<128` decode to "?".
  public func decode(_ ids: [Int32]) -> String {
    var scalars = String.UnicodeScalarView()
    for id in ids {
      let value = (0..<128).contains(id) ? UInt32(id) : UInt32(Self.replacementID)
      scalars.append(Unicode.Scalar(value)!)
    }
    return String(scalars)
  }
}
