/// Splits text into the pieces GPT-2's byte-level BPE encodes one at a time, as the regular expression
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` would (leftmost match,
/// alternatives tried in order). `\s` is the Unicode White_Space property, `\p{L}` / `\p{N}` the letter and
/// number general categories.
public enum GPT2PreTokenizer {
  /// Character classes the pattern distinguishes.
  @usableFromInline
  enum ScalarClass { case letter, number, whitespace, other }

  @usableFromInline
  static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
    let value = scalar.value
    if value < 128 {
      // ASCII fast path.
      switch value {
      case 0x41...0x5a, 0x61...0x7a: return .letter
      case 0x30...0x39: return .number
      case 0x09...0x0d, 0x20: return .whitespace
      default: return .other
      }
    }
    let properties = scalar.properties
    if properties.isWhitespace { return .whitespace }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
  }

  /// The pieces of `text` as half-open ranges of offsets into `Array(text.unicodeScalars)`; they tile it.
  public static func pieces(of scalars: [Unicode.Scalar]) -> [Range<Int>] {
    var result: [Range<Int>] = []
    let n = scalars.count
    let classes = scalars.map(classify)
    var i = 0
    while i < n {
      let end = pieceEnd(scalars, classes, from: i)
      result.append(i..<end)
      i = end
    }
    return result
  }

  /// The pieces of `text` as strings.
  public static func pieces(of text: String) -> [String] {
    let scalars = Array(text.unicodeScalars)
    return pieces(of: scalars).map { range in
      var view = String.UnicodeScalarView()
      view.append(contentsOf: scalars[range])
      return String(view)
    }
  }

  /// End of the piece that starts at `i` (`i < scalars.count`).
  static func pieceEnd(_ s: [Unicode.Scalar], _ c: [ScalarClass], from i: Int) -> Int {
    let n = s.count
    // 's 't 're 've 'm 'll 'd
    if s[i] == "'" && i + 1 < n {
      switch s[i + 1] {
      case "s", "t", "m", "d": return i + 2
      case "r", "v":
        if i + 2 < n && s[i + 2] == "e" { return i + 3 }
      case "l":
        if i + 2 < n && s[i + 2] == "l" { return i + 3 }
      default: break
      }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional single space, then a run of one class.
    let start = s[i] == " " ? i + 1 : i
    if start < n && c[start] != .whitespace {
      let kind = c[start]
      var j = start + 1
      while j < n && c[j] == kind { j += 1 }
      return j
    }
    // `\s+(?!\S)|\s+`: a whitespace run up to the end of text, or all but its last scalar when a
    // non-space follows (that scalar then starts the next piece), or a single scalar.
    var j = i + 1
    while j < n && c[j] == .whitespace { j += 1 }
    if j == n || j - i == 1 { return j }
    return j - 1
  }
}
