/// The dictionary at the start of a `.npy` file: `{'descr': …, 'fortran_order': …, 'shape': (…), }`.
struct NPYHeader: Equatable {
  var descr: String
  var fortranOrder: Bool
  var shape: [Int]

  /// Why a header could not be understood (one line, without the source name).
  struct ParseError: Error { var message: String }

  /// NumPy's preamble for a C-order array: magic, version, header length and the space-padded header.
  ///
  /// Mirrors `numpy.lib.format`: keys sorted, Python reprs, room for the first axis to grow to 21 digits,
  /// padding so that the data starts at a multiple of 64; version 2.0 only if the header exceeds 65535 bytes.
  static func preamble(descr: String, shape: [Int]) -> [UInt8] {
    let shapeText: String
    switch shape.count {
    case 0: shapeText = "()"
    case 1: shapeText = "(\(shape[0]),)"
    default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
    if let first = shape.first {
      header += String(repeating: " ", count: Swift.max(0, 21 - String(first).count))
    }
    var bytes = Array(header.utf8)
    let headerLength = bytes.count + 1  // with the final newline
    var prefixLength = 10
    var padding = 64 - (prefixLength + headerLength) % 64
    if headerLength + padding > Int(UInt16.max) {
      prefixLength = 12
      padding = 64 - (prefixLength + headerLength) % 64
    }
    bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
    bytes.append(UInt8(ascii: "\n"))
    var out = NPY.magic
    let length = bytes.count
    if prefixLength == 10 {
      out += [1, 0, UInt8(length & 0xff), UInt8(length >> 8)]
    } else {
      out += [2, 0] + (0..<4).map { UInt8((length >> (8 * $0)) & 0xff) }
    }
    return out + bytes
  }

  /// Parses the header text (Latin-1 for versions 1 and 2, UTF-8 for version 3).
  static func parse(_ bytes: UnsafeRawBufferPointer, utf8: Bool) throws -> NPYHeader {
    let text: [Unicode.Scalar]
    if utf8 {
      guard let s = String(validating: bytes, as: UTF8.self) else {
        throw ParseError(message: "header is not valid UTF-8")
      }
      text = Array(s.unicodeScalars)
    } else {
      text = bytes.map { Unicode.Scalar($0) }
    }
    var parser = PythonLiteralParser(text: text)
    let value = try parser.parseHeader()
    guard case .dict(let entries) = value else {
      throw ParseError(message: "header is not a Python dict literal")
    }
    let keys = Set(entries.map(\.key))
    guard keys == ["descr", "fortran_order", "shape"], entries.count == 3 else {
      let listed = entries.map { "'\($0.key)'" }.joined(separator: ", ")
      throw ParseError(message: "header keys are [\(listed)], expected exactly 'descr', 'fortran_order' and 'shape'")
    }
    let dict = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
    guard case .string(let descr) = dict["descr"]! else {
      throw ParseError(message: "unsupported dtype \(dict["descr"]!.text) (supported: \(NPY.supported))")
    }
    guard case .bool(let fortran) = dict["fortran_order"]! else {
      throw ParseError(message: "fortran_order is \(dict["fortran_order"]!.text), expected True or False")
    }
    guard case .tuple(let dims) = dict["shape"]! else {
      throw ParseError(message: "shape is \(dict["shape"]!.text), expected a tuple of non-negative integers")
    }
    var shape: [Int] = []
    for d in dims {
      guard case .int(let v) = d, v >= 0 else {
        throw ParseError(message: "shape \(dict["shape"]!.text) must hold non-negative integers")
      }
      shape.append(v)
    }
    return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape)
  }
}

/// The subset of Python literals that `.npy` headers use.
indirect enum PythonLiteral: Equatable {
  case dict([(key: String, value: PythonLiteral)])
  case tuple([PythonLiteral])
  case list([PythonLiteral])
  case string(String)
  case int(Int)
  case bool(Bool)
  case none

  static func == (a: PythonLiteral, b: PythonLiteral) -> Bool { a.text == b.text }

  /// Python-like rendering for error messages.
  var text: String {
    switch self {
    case .dict(let e): return "{" + e.map { "'\($0.key)': \($0.value.text)" }.joined(separator: ", ") + "}"
    case .tuple(let v): return v.count == 1 ? "(\(v[0].text),)" : "(" + v.map(\.text).joined(separator: ", ") + ")"
    case .list(let v): return "[" + v.map(\.text).joined(separator: ", ") + "]"
    case .string(let s): return "'\(s)'"
    case .int(let v): return String(v)
    case .bool(let b): return b ? "True" : "False"
    case .none: return "None"
    }
  }
}

/// Recursive-descent parser for Python dict/tuple/list/str/int/bool/None literals.
struct PythonLiteralParser {
  let text: [Unicode.Scalar]
  var position = 0

  init(text: [Unicode.Scalar]) { self.text = text }

  func error(_ message: String) -> NPYHeader.ParseError {
    NPYHeader.ParseError(message: "malformed header: \(message) at character \(position)")
  }

  mutating func skipWhitespace() {
    while position < text.count, text[position].properties.isWhitespace { position += 1 }
  }

  func peek() -> Unicode.Scalar? { position < text.count ? text[position] : nil }

  /// The whole header: one literal surrounded by whitespace.
  mutating func parseHeader() throws -> PythonLiteral {
    skipWhitespace()
    let value = try parseValue(depth: 0)
    skipWhitespace()
    guard position == text.count else { throw error("unexpected text after the dict") }
    return value
  }

  mutating func parseValue(depth: Int) throws -> PythonLiteral {
    guard depth < 32 else { throw error("nesting too deep") }
    guard let c = peek() else { throw error("unexpected end") }
    switch c {
    case "{": return try parseDict(depth: depth)
    case "(": return .tuple(try parseSequence(close: ")", depth: depth))
    case "[": return .list(try parseSequence(close: "]", depth: depth))
    case "'", "\"": return .string(try parseString())
    case "-", "0"..."9": return try parseInt()
    default:
      var word = ""
      while let s = peek(), s.properties.isAlphabetic || s == "_" { word.unicodeScalars.append(s); position += 1 }
      switch word {
      case "True": return .bool(true)
      case "False": return .bool(false)
      case "None": return .none
      default: throw error(word.isEmpty ? "unexpected character '\(c)'" : "unknown name '\(word)'")
      }
    }
  }

  mutating func parseDict(depth: Int) throws -> PythonLiteral {
    position += 1
    var entries: [(key: String, value: PythonLiteral)] = []
    while true {
      skipWhitespace()
      if peek() == "}" { position += 1; return .dict(entries) }
      guard peek() == "'" || peek() == "\"" else { throw error("expected a string key") }
      let key = try parseString()
      guard !entries.contains(where: { $0.key == key }) else { throw error("duplicate key '\(key)'") }
      skipWhitespace()
      guard peek() == ":" else { throw error("expected ':'") }
      position += 1
      skipWhitespace()
      entries.append((key, try parseValue(depth: depth + 1)))
      skipWhitespace()
      if peek() == "," { position += 1; continue }
      guard peek() == "}" else { throw error("expected ',' or '}'") }
      position += 1
      return .dict(entries)
    }
  }

  mutating func parseSequence(close: Unicode.Scalar, depth: Int) throws -> [PythonLiteral] {
    position += 1
    var items: [PythonLiteral] = []
    while true {
      skipWhitespace()
      if peek() == close { position += 1; return items }
      items.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      if peek() == "," { position += 1; continue }
      guard peek() == close else { throw error("expected ',' or '\(close)'") }
      position += 1
      return items
    }
  }

  mutating func parseString() throws -> String {
    let quote = text[position]
    position += 1
    var s = ""
    while true {
      guard let c = peek() else { throw error("unterminated string") }
      position += 1
      if c == quote { return s }
      if c == "\\" {
        guard let e = peek() else { throw error("unterminated string") }
        position += 1
        s.unicodeScalars.append(e)
      } else {
        s.unicodeScalars.append(c)
      }
    }
  }

  mutating func parseInt() throws -> PythonLiteral {
    var digits = ""
    if peek() == "-" { digits = "-"; position += 1 }
    while let c = peek(), ("0"..."9").contains(c) { digits.unicodeScalars.append(c); position += 1 }
    if peek() == "L" { position += 1 }  // Python 2 long suffix
    guard let v = Int(digits) else { throw error("invalid integer '\(digits)'") }
    return .int(v)
  }
}
