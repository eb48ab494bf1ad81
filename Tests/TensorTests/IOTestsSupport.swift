import Foundation
import Testing
@testable import Tensor

/// Helpers shared by the IO test suites.
enum IOTestSupport {
  /// The bytes of a fixture in Tests/TensorTests/Fixtures.
  static func fixture(_ name: String) throws -> Data {
    let url = try #require(fixtureURL(name), "fixture \(name) is missing")
    return try Data(contentsOf: url)
  }

  static func fixtureURL(_ name: String) -> URL? {
    let base = (name as NSString).deletingPathExtension
    let ext = (name as NSString).pathExtension
    return Bundle.module.url(forResource: base, withExtension: ext, subdirectory: "Fixtures")
  }

  /// A fresh empty directory under the system temp directory.
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("io-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A safetensors file with this header text (padded with spaces to a multiple of 8 when `pad`) and data.
  static func safetensors(header: String, data: [UInt8] = [], pad: Bool = true) -> Data {
    var h = Array(header.utf8)
    if pad { h += repeatElement(UInt8(ascii: " "), count: (8 - h.count % 8) % 8) }
    return rawSafetensors(headerBytes: h, data: data)
  }

  static func rawSafetensors(headerBytes h: [UInt8], data: [UInt8] = []) -> Data {
    var out = Data()
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
  }

  /// Little-endian bytes of values.
  static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  }

  static func bytes(_ values: [Float]) -> [UInt8] { bytes(values.map(\.bitPattern)) }

  /// Bitwise equality of float arrays (distinguishes -0 from 0; NaN equals NaN with the same bits).
  static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
}
