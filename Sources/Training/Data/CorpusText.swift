import Foundation

/// Reading a text corpus the way the reference's Python does (`open(path).read()` with UTF-8): strict UTF-8,
/// and universal newlines ("\r\n" and a lone "\r" become "\n"). Character counts are Unicode scalar counts,
/// as Python's `len` counts them.
public enum CorpusText {
  /// The text of a UTF-8 file with newlines normalised.
  public static func read(contentsOf url: URL) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw DataError("input file \(url.path) does not exist")
    }
    guard !isDirectory.boolValue else { throw DataError("input file \(url.path) is a directory") }
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw DataError("cannot read input file \(url.path) (\(error.localizedDescription))")
    }
    guard let text = decodeUTF8(normalizingNewlines(Array(data))) else {
      throw DataError("input file \(url.path) is not valid UTF-8 text")
    }
    return text
  }

  /// The bytes with "\r\n" and lone "\r" replaced by "\n".
  public static func normalizingNewlines(_ bytes: [UInt8]) -> [UInt8] {
    guard bytes.contains(0x0d) else { return bytes }
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
      let byte = bytes[i]
      if byte == 0x0d {
        out.append(0x0a)
        if i + 1 < bytes.count && bytes[i + 1] == 0x0a { i += 1 }
      } else {
        out.append(byte)
      }
      i += 1
    }
    return out
  }

  /// The string of strictly valid UTF-8 bytes (a byte-order mark is kept as U+FEFF), or nil.
  public static func decodeUTF8(_ bytes: [UInt8]) -> String? {
    var iterator = bytes.makeIterator()
    var decoder = UTF8()
    var scalars = String.UnicodeScalarView()
    loop: while true {
      switch decoder.decode(&iterator) {
      case .scalarValue(let scalar): scalars.append(scalar)
      case .emptyInput: break loop
      case .error: return nil
      }
    }
    return String(scalars)
  }

  /// The string of Latin-1 (ISO 8859-1) bytes: each byte is the scalar of the same value.
  public static func decodeLatin1(_ bytes: [UInt8]) -> String {
    var scalars = String.UnicodeScalarView()
    for byte in bytes { scalars.append(Unicode.Scalar(byte)) }
    return String(scalars)
  }
}
