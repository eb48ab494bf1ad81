import Foundation

/// Reading and writing the safetensors format (https://github.com/huggingface/safetensors), byte-compatible
/// with the Python `safetensors` package.
///
/// Layout: u64 little-endian header length N, N bytes of JSON
/// `{"__metadata__": {…}, name: {"dtype", "shape", "data_offsets": [begin, end]}, …}` padded with spaces so
/// that 8 + N is a multiple of 8, then the tensors' little-endian bytes, contiguous, in header order.
public enum SafeTensors {
  /// Largest header accepted on read (the Python library's limit).
  static let maximumHeaderLength = 100_000_000
  static let supportedDTypes = "F32, F16, BF16, I64, I32"

  /// The file's bytes. Tensors are ordered like the Python library orders them (by dtype: I64, F32, I32,
  /// then by name bytewise); `intTensors` are stored as `intDType` ("I64" or "I32"); metadata keys sorted.
  public static func encode(_ file: SafeTensorsFile, intDType: String = "I64") -> Data {
    precondition(intDType == "I64" || intDType == "I32", "intDType must be \"I64\" or \"I32\", got \"\(intDType)\"")
    for name in file.intTensors.keys {
      precondition(file.tensors[name] == nil, "tensor name '\(name)' is used by both a float and an integer tensor")
    }
    precondition(file.tensors["__metadata__"] == nil && file.intTensors["__metadata__"] == nil,
                 "'__metadata__' cannot be a tensor name")

    struct Entry { var name: String; var rank: Int; var dtype: String; var shape: [Int]; var byteCount: Int
      var float: Tensor?; var int: IntTensor? }
    let intSize = intDType == "I64" ? 8 : 4
    // Python safetensors sorts by dtype (descending enum order: … I64 > … F32 > U32 > I32 …), then by name.
    let intRank = intDType == "I64" ? 2 : 0
    var entries = file.tensors.map { Entry(name: $0.key, rank: 1, dtype: "F32", shape: $0.value.shape,
                                           byteCount: $0.value.count * 4, float: $0.value, int: nil) }
    entries += file.intTensors.map { Entry(name: $0.key, rank: intRank, dtype: intDType, shape: $0.value.shape,
                                           byteCount: $0.value.count * intSize, float: nil, int: $0.value) }
    entries.sort { a, b in
      a.rank != b.rank ? a.rank > b.rank : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
    }

    var header: [UInt8] = [UInt8(ascii: "{")]
    if !file.metadata.isEmpty {
      header += Array("\"__metadata__\":{".utf8)
      let keys = file.metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
      for (i, key) in keys.enumerated() {
        if i > 0 { header.append(UInt8(ascii: ",")) }
        JSONWriter.appendString(key, to: &header)
        header.append(UInt8(ascii: ":"))
        JSONWriter.appendString(file.metadata[key]!, to: &header)
      }
      header.append(UInt8(ascii: "}"))
    }
    var offset = 0
    for (i, e) in entries.enumerated() {
      if i > 0 || !file.metadata.isEmpty { header.append(UInt8(ascii: ",")) }
      JSONWriter.appendString(e.name, to: &header)
      header += Array(":{\"dtype\":\"\(e.dtype)\",\"shape\":".utf8)
      JSONWriter.appendIntegers(e.shape, to: &header)
      header += Array(",\"data_offsets\":".utf8)
      JSONWriter.appendIntegers([offset, offset + e.byteCount], to: &header)
      header.append(UInt8(ascii: "}"))
      offset += e.byteCount
    }
    header.append(UInt8(ascii: "}"))
    header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)

    let dataStart = 8 + header.count
    var out = Data(count: dataStart + offset)
    out.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
      let base = raw.baseAddress!
      base.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self)
      header.withUnsafeBytes { (base + 8).copyMemory(from: $0.baseAddress!, byteCount: header.count) }
      var position = dataStart
      for e in entries where e.byteCount > 0 {
        let target = base + position
        if let t = e.float {
          t.withUnsafeBufferPointer { target.copyMemory(from: $0.baseAddress!, byteCount: e.byteCount) }
        } else if let t = e.int {
          t.scalars.withUnsafeBufferPointer { src in
            if intSize == 4 {
              target.copyMemory(from: src.baseAddress!, byteCount: e.byteCount)
            } else {
              for j in 0..<src.count {
                target.storeBytes(of: Int64(src[j]).littleEndian, toByteOffset: 8 * j, as: Int64.self)
              }
            }
          }
        }
        position += e.byteCount
      }
    }
    return out
  }

  /// Parses and validates safetensors bytes. Errors name `source` and the problem on one line.
  public static func decode(_ data: Data, source: String = "safetensors data") throws -> SafeTensorsFile {
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> SafeTensorsFile in
      func fail(_ problem: String) -> FileFormatError { FileFormatError("\(source): \(problem)") }
      guard raw.count >= 8 else {
        throw fail("file is \(raw.count) bytes, shorter than the 8-byte header length")
      }
      let declared = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
      guard declared <= UInt64(maximumHeaderLength) else {
        throw fail("header length \(declared) is absurd (more than \(maximumHeaderLength) bytes)")
      }
      let headerLength = Int(declared)
      guard 8 + headerLength <= raw.count else {
        throw fail("header length \(headerLength) exceeds the file size (\(raw.count) bytes)")
      }
      let headerBytes = UnsafeRawBufferPointer(rebasing: raw[8..<(8 + headerLength)])
      guard String(validating: headerBytes, as: UTF8.self) != nil else { throw fail("header is not valid UTF-8") }
      let json: JSONValue
      do {
        json = try JSONValue.parse(headerBytes)
      } catch let e as JSONParseError {
        throw fail("header is not valid JSON: \(e.message)")
      }
      guard case .object(let members) = json else {
        throw fail("header is a JSON \(json.kindName), expected an object")
      }

      let dataStart = 8 + headerLength
      let dataSize = raw.count - dataStart
      var metadata: [String: String] = [:]
      struct Entry { var name: String; var dtype: String; var shape: [Int]; var count: Int; var begin: Int; var end: Int }
      var entries: [Entry] = []
      entries.reserveCapacity(members.count)
      for (name, value) in members {
        if name == "__metadata__" {
          guard case .object(let pairs) = value else {
            throw fail("__metadata__ is a JSON \(value.kindName), expected an object of strings")
          }
          for (key, v) in pairs {
            guard case .string(let s) = v else {
              throw fail("__metadata__ value for '\(key)' is a JSON \(v.kindName), expected a string")
            }
            metadata[key] = s
          }
          continue
        }
        guard case .object(let fields) = value else {
          throw fail("entry for tensor '\(name)' is a JSON \(value.kindName), expected an object")
        }
        func field(_ key: String) throws -> JSONValue {
          guard let v = fields.first(where: { $0.key == key })?.value else {
            throw fail("tensor '\(name)' has no \(key)")
          }
          return v
        }
        guard case .string(let dtype) = try field("dtype") else {
          throw fail("tensor '\(name)' has a dtype that is not a string")
        }
        let itemSize: Int
        switch dtype {
        case "F32", "I32": itemSize = 4
        case "F16", "BF16": itemSize = 2
        case "I64": itemSize = 8
        default: throw fail("tensor '\(name)' has unknown or unsupported dtype '\(dtype)' (supported: \(supportedDTypes))")
        }
        guard case .array(let dims) = try field("shape") else {
          throw fail("tensor '\(name)' has a shape that is not an array")
        }
        var shape: [Int] = []
        var count = 1
        for d in dims {
          guard case .integer(let v) = d else {
            throw fail("tensor '\(name)' has a shape entry that is not an integer (\(d.kindName))")
          }
          guard v >= 0 else { throw fail("tensor '\(name)' has negative dimension \(v) in its shape") }
          let (p, overflow) = count.multipliedReportingOverflow(by: v)
          guard !overflow else { throw fail("tensor '\(name)' has a shape with too many elements") }
          shape.append(v)
          count = p
        }
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
              case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1],
              begin >= 0, begin <= end
        else {
          throw fail("tensor '\(name)' has data_offsets that are not [begin, end] with 0 <= begin <= end")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow, end - begin == bytes else {
          throw fail("tensor '\(name)' has \(end - begin) bytes but shape \(shape) of \(dtype) needs \(overflow ? "more" : String(bytes))")
        }
        guard end <= dataSize else {
          throw fail("tensor '\(name)' has data_offsets [\(begin), \(end)] outside the data section (\(dataSize) bytes)")
        }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, count: count, begin: begin, end: end))
      }

      // Ranges must not overlap and must cover the data section exactly.
      let byOffset = entries.indices.sorted { (entries[$0].begin, entries[$0].end) < (entries[$1].begin, entries[$1].end) }
      var covered = 0
      for (k, i) in byOffset.enumerated() where k > 0 {
        let previous = entries[byOffset[k - 1]]
        if entries[i].begin < previous.end {
          throw fail("tensors '\(previous.name)' [\(previous.begin), \(previous.end)] and '\(entries[i].name)' [\(entries[i].begin), \(entries[i].end)] overlap")
        }
      }
      for e in entries { covered += e.end - e.begin }
      guard covered == dataSize else {
        throw fail("data section has \(dataSize - covered) bytes not covered by any tensor")
      }

      var file = SafeTensorsFile(metadata: metadata)
      let base = raw.baseAddress.map { $0 + dataStart }
      for e in entries {
        let src = e.count > 0 ? base! + e.begin : nil
        switch e.dtype {
        case "F32", "F16", "BF16":
          var t = Tensor(uninitialized: e.shape)
          if let src {
            let dst = t.unsafeMutablePointer()
            if e.dtype == "F32" {
              UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: e.end - e.begin)
            } else {
              HalfPrecision.convert(src, count: e.count, bfloat: e.dtype == "BF16", into: dst)
            }
          }
          file.tensors[e.name] = t
        case "I32":
          let values = [Int32](unsafeUninitializedCapacity: e.count) { buffer, initialized in
            if let src { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: src, byteCount: e.end - e.begin) }
            initialized = e.count
          }
          file.intTensors[e.name] = IntTensor(shape: e.shape, scalars: values)
        default:  // I64
          var bad: (index: Int, value: Int64)?
          let values = [Int32](unsafeUninitializedCapacity: e.count) { buffer, initialized in
            for j in 0..<e.count {
              let v = Int64(littleEndian: src!.loadUnaligned(fromByteOffset: 8 * j, as: Int64.self))
              guard let narrow = Int32(exactly: v) else { bad = (j, v); break }
              buffer[j] = narrow
            }
            initialized = bad == nil ? e.count : 0
          }
          if let bad {
            throw fail("tensor '\(e.name)' (I64) holds \(bad.value) at index \(bad.index), which does not fit in Int32")
          }
          file.intTensors[e.name] = IntTensor(shape: e.shape, scalars: values)
        }
      }
      return file
    }
  }

  /// Reads a `.safetensors` file; errors name the file's path.
  public static func read(contentsOf url: URL) throws -> SafeTensorsFile {
    try decode(try AtomicFile.read(url), source: url.path)
  }

  /// Writes a `.safetensors` file atomically.
  public static func write(_ file: SafeTensorsFile, to url: URL, intDType: String = "I64") throws {
    try AtomicFile.write(encode(file, intDType: intDType), to: url)
  }
}
