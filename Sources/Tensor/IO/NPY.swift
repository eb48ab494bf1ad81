import Foundation

/// Reading and writing NumPy `.npy` files (little-endian uint16, int32, int64 and float32, C order).
public enum NPY {
  static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]  // \x93NUMPY
  static let supported = "'<u2', '<i4', '<i8', '<f4'"

  /// Exactly NumPy's bytes for this array (`numpy.save`): format 1.0, header padded with spaces and ended
  /// by `\n` so that the preamble is a multiple of 64 bytes.
  public static func encode(_ array: NPYArray) -> Data {
    precondition(array.shape.allSatisfy { $0 >= 0 }, "negative dimension in NPY shape \(array.shape)")
    precondition(Shape.count(array.shape) == array.data.count,
                 "NPY shape \(array.shape) needs \(Shape.count(array.shape)) values, got \(array.data.count)")
    let preamble = NPYHeader.preamble(descr: array.data.descr, shape: array.shape)
    let payload = array.data.count * array.data.itemSize
    var out = Data(count: preamble.count + payload)
    out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
      dst.copyBytes(from: preamble)
      guard payload > 0 else { return }
      let target = dst.baseAddress! + preamble.count
      switch array.data {
      case .uint16(let v): v.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: payload) }
      case .int32(let v): v.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: payload) }
      case .int64(let v): v.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: payload) }
      case .float32(let v): v.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: payload) }
      }
    }
    return out
  }

  /// Parses `.npy` bytes (format versions 1.0, 2.0 and 3.0). Errors name `source`.
  public static func decode(_ data: Data, source: String = "npy data") throws -> NPYArray {
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> NPYArray in
      func fail(_ problem: String) -> FileFormatError { FileFormatError("\(source): \(problem)") }
      guard raw.count >= 10 else { throw fail("too short to be a .npy file (\(raw.count) bytes)") }
      guard raw.prefix(6).elementsEqual(magic) else { throw fail("not a .npy file (bad magic bytes)") }
      let major = raw[6], minor = raw[7]
      let headerStart: Int
      let headerLength: Int
      switch (major, minor) {
      case (1, 0):
        headerStart = 10
        headerLength = Int(UInt16(raw[8]) | UInt16(raw[9]) << 8)
      case (2, 0), (3, 0):
        guard raw.count >= 12 else { throw fail("too short to be a .npy file (\(raw.count) bytes)") }
        headerStart = 12
        headerLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
      default:
        throw fail("unsupported .npy format version \(major).\(minor) (supported: 1.0, 2.0, 3.0)")
      }
      let dataStart = headerStart + headerLength
      guard dataStart <= raw.count else {
        throw fail("header length \(headerLength) exceeds the file size (\(raw.count) bytes)")
      }
      let headerBytes = UnsafeRawBufferPointer(rebasing: raw[headerStart..<dataStart])
      let header: NPYHeader
      do {
        header = try NPYHeader.parse(headerBytes, utf8: major == 3)
      } catch let e as NPYHeader.ParseError {
        throw fail(e.message)
      }
      guard !header.fortranOrder else { throw fail("Fortran-ordered arrays are not supported (fortran_order is True)") }

      var count = 1
      for d in header.shape {
        let (p, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow else { throw fail("shape \(header.shape) has too many elements") }
        count = p
      }
      let itemSize: Int
      switch header.descr {
      case "<u2": itemSize = 2
      case "<i4", "<f4": itemSize = 4
      case "<i8": itemSize = 8
      default: throw fail("unsupported dtype '\(header.descr)' (supported: \(supported))")
      }
      let (expected, overflow) = count.multipliedReportingOverflow(by: itemSize)
      guard !overflow else { throw fail("shape \(header.shape) has too many elements") }
      let available = raw.count - dataStart
      guard available >= expected else {
        throw fail("truncated data: shape \(header.shape) of '\(header.descr)' needs \(expected) bytes, found \(available)")
      }
      guard available == expected else {
        throw fail("\(available - expected) unexpected bytes after the data (shape \(header.shape) of '\(header.descr)' needs \(expected) bytes)")
      }
      let src = raw.baseAddress.map { $0 + dataStart }
      func load<T>(_ type: T.Type) -> [T] {
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
          if count > 0 { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: src!, byteCount: expected) }
          initialized = count
        }
      }
      let values: NPYData
      switch header.descr {
      case "<u2": values = .uint16(load(UInt16.self))
      case "<i4": values = .int32(load(Int32.self))
      case "<i8": values = .int64(load(Int64.self))
      default: values = .float32(load(Float.self))
      }
      return NPYArray(shape: header.shape, data: values)
    }
  }

  /// Reads a `.npy` file; errors name the file's path.
  public static func read(contentsOf url: URL) throws -> NPYArray {
    try decode(try AtomicFile.read(url), source: url.path)
  }

  /// Writes a `.npy` file atomically.
  public static func write(_ array: NPYArray, to url: URL) throws {
    try AtomicFile.write(encode(array), to: url)
  }
}
