/// GPT-2's reversible map between bytes and printable Unicode scalars, used to write byte strings as
/// `vocab.json` / `merges.txt` text.
///
/// The printable bytes "!"…"~", "¡"…"¬" and "®"…"ÿ" stand for themselves; the other 68 bytes (controls,
/// space, NBSP, soft hyphen, …) map in increasing order to U+0100, U+0101, …
public enum ByteLevelAlphabet {
  /// The scalar that stands for each byte, indexed by byte value.
  public static let scalarForByte: [Unicode.Scalar] = {
    var table = [Unicode.Scalar](repeating: " ", count: 256)
    var next: UInt32 = 256
    for byte in 0..<256 {
      if isSelfRepresented(UInt8(byte)) {
        table[byte] = Unicode.Scalar(UInt32(byte))!
      } else {
        table[byte] = Unicode.Scalar(next)!
        next += 1
      }
    }
    return table
  }()

  /// The byte each alphabet scalar stands for.
  public static let byteForScalar: [Unicode.Scalar: UInt8] = {
    var map: [Unicode.Scalar: UInt8] = [:]
    for (byte, scalar) in scalarForByte.enumerated() { map[scalar] = UInt8(byte) }
    return map
  }()

  /// Whether a byte is one of the 188 printable bytes that stand for themselves.
  @inlinable
  public static func isSelfRepresented(_ byte: UInt8) -> Bool {
    (0x21...0x7e).contains(byte) || (0xa1...0xac).contains(byte) || (0xae...0xff).contains(byte)
  }

  /// The bytes a token string written in this alphabet stands for, or nil if it uses any other scalar.
  public static func bytes(of text: String) -> [UInt8]? {
    var out: [UInt8] = []
    out.reserveCapacity(text.unicodeScalars.count)
    for scalar in text.unicodeScalars {
      guard let byte = byteForScalar[scalar] else { return nil }
      out.append(byte)
    }
    return out
  }

  /// The alphabet text for a byte string.
  public static func text(of bytes: [UInt8]) -> String {
    var scalars = String.UnicodeScalarView()
    for byte in bytes { scalars.append(scalarForByte[Int(byte)]) }
    return String(scalars)
  }
}
