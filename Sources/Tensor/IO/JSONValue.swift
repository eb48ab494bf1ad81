/// A parsed JSON value that keeps object keys in file order and integers exact; used for file headers.
indirect enum JSONValue: Equatable {
  case object([(key: String, value: JSONValue)])
  case array([JSONValue])
  case string(String)
  /// A number written without fraction or exponent that fits in `Int`.
  case integer(Int)
  /// Any other number.
  case number(Double)
  case bool(Bool)
  case null

  static func == (a: JSONValue, b: JSONValue) -> Bool {
    switch (a, b) {
    case let (.object(x), .object(y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    case let (.array(x), .array(y)): return x == y
    case let (.string(x), .string(y)): return x == y
    case let (.integer(x), .integer(y)): return x == y
    case let (.number(x), .number(y)): return x == y
    case let (.bool(x), .bool(y)): return x == y
    case (.null, .null): return true
    default: return false
    }
  }

  /// A short name of the value's kind for error messages ("string", "array", …).
  var kindName: String {
    switch self {
    case .object: return "object"
    case .array: return "array"
    case .string: return "string"
    case .integer, .number: return "number"
    case .bool: return "boolean"
    case .null: return "null"
    }
  }

  /// Parses one JSON value from UTF-8 bytes; only whitespace may follow it. Errors are one-line problem texts.
  static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
    var parser = JSONParser(bytes: bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    if parser.position != bytes.count { throw parser.error("unexpected content after the JSON value") }
    return value
  }
}

/// Why JSON text could not be parsed.
struct JSONParseError: Error {
  var message: String
}

/// Recursive-descent JSON parser over raw bytes (RFC 8259).
struct JSONParser {
  let bytes: UnsafeRawBufferPointer
  var position = 0
  static let maximumDepth = 128

  init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  func error(_ message: String) -> JSONParseError {
    JSONParseError(message: "\(message) at byte \(position)")
  }

  mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x09, 0x0a, 0x0d: position += 1
      default: return
      }
    }
  }

  func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

  mutating func expect(_ byte: UInt8) throws {
    guard peek() == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
    position += 1
  }

  mutating func parseValue(depth: Int) throws -> JSONValue {
    guard depth < JSONParser.maximumDepth else { throw error("nesting deeper than \(JSONParser.maximumDepth) levels") }
    guard let c = peek() else { throw error("unexpected end of JSON") }
    switch c {
    case UInt8(ascii: "{"): return try parseObject(depth: depth)
    case UInt8(ascii: "["): return try parseArray(depth: depth)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
    case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
    case UInt8(ascii: "n"): try parseLiteral("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw error("unexpected character '\(Character(Unicode.Scalar(c)))'")
    }
  }

  mutating func parseLiteral(_ word: StaticString) throws {
    let n = word.utf8CodeUnitCount
    let p = word.utf8Start
    guard position + n <= bytes.count, (0..<n).allSatisfy({ bytes[position + $0] == p[$0] }) else {
      throw error("invalid literal")
    }
    position += n
  }

  mutating func parseObject(depth: Int) throws -> JSONValue {
    position += 1  // {
    var members: [(key: String, value: JSONValue)] = []
    var seen = Set<String>()
    skipWhitespace()
    if peek() == UInt8(ascii: "}") { position += 1; return .object(members) }
    while true {
      skipWhitespace()
      guard peek() == UInt8(ascii: "\"") else { throw error("expected a string key") }
      let key = try parseString()
      guard seen.insert(key).inserted else { throw error("duplicate key \"\(key)\"") }
      skipWhitespace()
      try expect(UInt8(ascii: ":"))
      skipWhitespace()
      let value = try parseValue(depth: depth + 1)
      members.append((key, value))
      skipWhitespace()
      if peek() == UInt8(ascii: ",") { position += 1; continue }
      try expect(UInt8(ascii: "}"))
      return .object(members)
    }
  }

  mutating func parseArray(depth: Int) throws -> JSONValue {
    position += 1  // [
    var elements: [JSONValue] = []
    skipWhitespace()
    if peek() == UInt8(ascii: "]") { position += 1; return .array(elements) }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      if peek() == UInt8(ascii: ",") { position += 1; continue }
      try expect(UInt8(ascii: "]"))
      return .array(elements)
    }
  }

  mutating func parseHex4() throws -> UInt32 {
    guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[position]
      let d: UInt32
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
      default: throw error("invalid \\u escape")
      }
      v = v << 4 | d
      position += 1
    }
    return v
  }

  /// Parses a string starting at its opening quote. The input must already be valid UTF-8.
  mutating func parseString() throws -> String {
    position += 1  // "
    var out: [UInt8] = []
    while true {
      guard position < bytes.count else { throw error("unterminated string") }
      let c = bytes[position]
      if c == UInt8(ascii: "\"") { position += 1; break }
      if c < 0x20 { throw error("unescaped control character in string") }
      if c != UInt8(ascii: "\\") { out.append(c); position += 1; continue }
      position += 1
      guard position < bytes.count else { throw error("unterminated string") }
      let e = bytes[position]
      position += 1
      switch e {
      case UInt8(ascii: "\""): out.append(0x22)
      case UInt8(ascii: "\\"): out.append(0x5c)
      case UInt8(ascii: "/"): out.append(0x2f)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0c)
      case UInt8(ascii: "n"): out.append(0x0a)
      case UInt8(ascii: "r"): out.append(0x0d)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var scalarValue = try parseHex4()
        if (0xD800..<0xDC00).contains(scalarValue) {
          guard position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
            throw error("unpaired surrogate in \\u escape")
          }
          position += 2
          let low = try parseHex4()
          guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
          scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(scalarValue) else { throw error("unpaired surrogate in \\u escape") }
        out.append(contentsOf: String(Character(scalar)).utf8)
      default:
        throw error("invalid escape sequence")
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  mutating func parseNumber() throws -> JSONValue {
    let start = position
    var isInteger = true
    func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
    if peek() == UInt8(ascii: "-") { position += 1 }
    if peek() == UInt8(ascii: "0") {
      position += 1
    } else if isDigit(peek()) {
      while isDigit(peek()) { position += 1 }
    } else {
      throw error("invalid number")
    }
    if peek() == UInt8(ascii: ".") {
      isInteger = false
      position += 1
      guard isDigit(peek()) else { throw error("invalid number") }
      while isDigit(peek()) { position += 1 }
    }
    if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
      isInteger = false
      position += 1
      if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
      guard isDigit(peek()) else { throw error("invalid number") }
      while isDigit(peek()) { position += 1 }
    }
    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    if isInteger, let v = Int(text) { return .integer(v) }
    return .number(Double(text) ?? .nan)
  }
}

/// Compact JSON output byte-identical to Rust's serde_json (as used by the Python `safetensors` package).
enum JSONWriter {
  /// Appends `s` as a JSON string literal: escapes `"` `\` and control characters, keeps other UTF-8 as is.
  static func appendString(_ s: String, to out: inout [UInt8]) {
    out.append(0x22)
    for c in s.utf8 {
      switch c {
      case 0x22: out.append(contentsOf: [0x5c, 0x22])
      case 0x5c: out.append(contentsOf: [0x5c, 0x5c])
      case 0x08: out.append(contentsOf: [0x5c, UInt8(ascii: "b")])
      case 0x0c: out.append(contentsOf: [0x5c, UInt8(ascii: "f")])
      case 0x0a: out.append(contentsOf: [0x5c, UInt8(ascii: "n")])
      case 0x0d: out.append(contentsOf: [0x5c, UInt8(ascii: "r")])
      case 0x09: out.append(contentsOf: [0x5c, UInt8(ascii: "t")])
      case 0..<0x20:
        let hex = Array("0123456789abcdef".utf8)
        out.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xf)]])
      default: out.append(c)
      }
    }
    out.append(0x22)
  }

  /// Appends `[a,b,…]` for integers.
  static func appendIntegers(_ values: [Int], to out: inout [UInt8]) {
    out.append(UInt8(ascii: "["))
    for (i, v) in values.enumerated() {
      if i > 0 { out.append(UInt8(ascii: ",")) }
      out.append(contentsOf: String(v).utf8)
    }
    out.append(UInt8(ascii: "]"))
  }
}
