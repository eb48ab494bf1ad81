import Foundation
import Testing
@testable import Tensor

@Suite struct NPYTests {
  typealias S = IOTestSupport

  /// NumPy's preamble for `header` (format 1.0), padded to `total` bytes.
  static func preamble(_ header: String, total: Int) -> [UInt8] {
    let h = Array(header.utf8)
    let length = total - 10
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xff), UInt8(length >> 8)]
      + h + Array(repeating: UInt8(ascii: " "), count: total - 10 - h.count - 1) + [UInt8(ascii: "\n")]
  }

  /// Arbitrary `.npy` bytes: magic, version, header text (with its length field), then data.
  static func npy(_ header: String, data: [UInt8], version: UInt8 = 1) -> Data {
    let h = Array(header.utf8)
    var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    if version == 1 {
      out += [UInt8(h.count & 0xff), UInt8(h.count >> 8)]
    } else {
      out += S.bytes([UInt32(h.count)])
    }
    return Data(out + h + data)
  }

  // MARK: Encoding matches NumPy

  @Test func specExampleHeaderBytes() throws {
    let tokens = (0..<111_618).map { UInt16($0 % 128) }
    let bytes = NPY.encode(NPYArray(shape: [111_618], data: .uint16(tokens)))
    let want = Self.preamble("{'descr': '<u2', 'fortran_order': False, 'shape': (111618,), }", total: 128)
    #expect(want.count == 128)
    #expect(Array(bytes.prefix(128)) == want)
    #expect(bytes.count == 128 + 2 * 111_618)
    #expect(Array(bytes[128..<134]) == [0, 0, 1, 0, 2, 0])
    #expect(Array(bytes.suffix(2)) == S.bytes([tokens.last!]))
    #expect(try NPY.decode(bytes).data == .uint16(tokens))
  }

  @Test func scalarAndTwoDimensionalHeaders() {
    let scalar = NPY.encode(NPYArray(shape: [], data: .float32([7])))
    #expect(Array(scalar) == Self.preamble("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", total: 128) + S.bytes([Float(7)]))
    let matrix = NPY.encode(NPYArray(shape: [2, 3], data: .int32([1, 2, 3, 4, 5, 6])))
    #expect(Array(matrix) == Self.preamble("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", total: 128) + S.bytes([Int32(1), 2, 3, 4, 5, 6]))
    let empty = NPY.encode(NPYArray(shape: [0], data: .int64([])))
    #expect(Array(empty) == Self.preamble("{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", total: 128))
  }

  @Test func longShapeGrowsPreambleTo192() {
    // Header 64+ bytes after growth padding: the preamble goes to the next multiple of 64.
    let shape = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1]
    let n = Shape.count(shape)
    let bytes = NPY.encode(NPYArray(shape: shape, data: .float32([Float](repeating: 0, count: n))))
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1), }"
    #expect(Array(bytes.prefix(128)) == Self.preamble(header + String(repeating: " ", count: 20), total: 128))
  }

  // MARK: Python-written fixtures

  @Test func fixturesDecodeAndReencodeByteForByte() throws {
    let cases: [(String, NPYArray)] = [
      ("io_uint16.npy", NPYArray(shape: [5], data: .uint16([0, 1, 65, 127, 65535]))),
      ("io_int32.npy", NPYArray(shape: [4], data: .int32([.min, -1, 0, .max]))),
      ("io_int64.npy", NPYArray(shape: [5], data: .int64([.min, -1, 0, 1 << 40, .max]))),
      ("io_float32.npy", NPYArray(shape: [5], data: .float32([0, -1.5, 3.25, Float(bitPattern: 1), .infinity]))),
      ("io_float32_2d.npy", NPYArray(shape: [2, 3], data: .float32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]))),
      ("io_scalar.npy", NPYArray(shape: [], data: .float32([7]))),
    ]
    for (name, want) in cases {
      let python = try S.fixture(name)
      let got = try NPY.decode(python, source: name)
      #expect(got == want, "\(name)")
      #expect(NPY.encode(want) == python, "\(name)")
    }
  }

  @Test func readsFixtureFromURLAndConvertsToTensor() throws {
    let url = try #require(S.fixtureURL("io_float32_2d.npy"))
    let array = try NPY.read(contentsOf: url)
    let t = try Tensor(npy: array)
    #expect(t.shape == [2, 3])
    #expect(t.scalars == [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    let tokens = try Tensor(npy: NPY.read(contentsOf: #require(S.fixtureURL("io_uint16.npy"))))
    #expect(tokens.scalars == [0, 1, 65, 127, 65535])
    #expect(try Tensor(npy: NPYArray(shape: [2], data: .int64([-3, 1 << 24]))).scalars == [-3, 16_777_216])
    let error = #expect(throws: FileFormatError.self) { try Tensor(npy: NPYArray(shape: [1], data: .int32([16_777_217]))) }
    #expect(error?.description.contains("16777217") == true)
  }

  // MARK: Round trips

  @Test func roundTripAllTypesThroughFiles() throws {
    let dir = try S.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let arrays = [
      NPYArray(shape: [3], data: .uint16([1, 2, 65535])),
      NPYArray(shape: [2, 2], data: .int32([-1, 0, 1, .max])),
      NPYArray(shape: [1, 1, 2], data: .int64([.min, .max])),
      NPYArray(shape: [], data: .float32([-0.0])),
      NPYArray(shape: [0, 5], data: .float32([])),
    ]
    for (i, array) in arrays.enumerated() {
      let url = dir.appendingPathComponent("sub/\(i).npy")
      try NPY.write(array, to: url)
      #expect(try NPY.read(contentsOf: url) == array)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("sub").path).sorted()
            == ["0.npy", "1.npy", "2.npy", "3.npy", "4.npy"])
  }

  @Test func decodesVersions2And3AndOtherKeyOrder() throws {
    let header = "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}\n"
    let data = S.bytes([Float(1), -1])
    for version: UInt8 in [1, 2, 3] {
      #expect(try NPY.decode(Self.npy(header, data: data, version: version)) == NPYArray(shape: [2], data: .float32([1, -1])))
    }
  }

  // MARK: Validation

  struct BadNPY: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: Data
    var expected: String
    var testDescription: String { name }
  }

  static let two = S.bytes([Float(1), 2])
  static let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n"

  static let badFiles: [BadNPY] = [
    BadNPY(name: "short", bytes: Data([0x93, 0x4e]), expected: "too short"),
    BadNPY(name: "bad magic", bytes: Data(Array("PK\u{3}\u{4}NUMPY".utf8) + [1, 0]) + npy(good, data: two).dropFirst(10),
           expected: "bad magic"),
    BadNPY(name: "version 4", bytes: npy(good, data: two, version: 4), expected: "unsupported .npy format version 4.0"),
    BadNPY(name: "header too long", bytes: Data([0x93] + Array("NUMPY".utf8) + [1, 0, 0xff, 0x7f] + Array("{}".utf8)),
           expected: "header length 32767 exceeds the file size"),
    BadNPY(name: "fortran order", bytes: npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", data: two),
           expected: "Fortran-ordered arrays are not supported"),
    BadNPY(name: "float64", bytes: npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", data: two),
           expected: "unsupported dtype '<f8'"),
    BadNPY(name: "big endian", bytes: npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", data: two),
           expected: "unsupported dtype '>f4'"),
    BadNPY(name: "uint8", bytes: npy("{'descr': '|u1', 'fortran_order': False, 'shape': (8,), }", data: two),
           expected: "unsupported dtype '|u1'"),
    BadNPY(name: "structured", bytes: npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data: two),
           expected: "unsupported dtype [('a', '<f4')]"),
    BadNPY(name: "truncated", bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data: two),
           expected: "truncated data: shape [3] of '<f4' needs 12 bytes, found 8"),
    BadNPY(name: "trailing", bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", data: two),
           expected: "4 unexpected bytes after the data"),
    BadNPY(name: "missing key", bytes: npy("{'descr': '<f4', 'shape': (2,), }", data: two),
           expected: "expected exactly 'descr', 'fortran_order' and 'shape'"),
    BadNPY(name: "extra key", bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", data: two),
           expected: "expected exactly 'descr', 'fortran_order' and 'shape'"),
    BadNPY(name: "negative dim", bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", data: two),
           expected: "must hold non-negative integers"),
    BadNPY(name: "shape list", bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", data: two),
           expected: "expected a tuple"),
    BadNPY(name: "garbled", bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", data: two),
           expected: "malformed header"),
    BadNPY(name: "not a dict", bytes: npy("(2,)", data: two), expected: "not a Python dict"),
  ]

  @Test(arguments: badFiles) func rejectsMalformedFile(_ bad: BadNPY) {
    let error = #expect(throws: FileFormatError.self) { try NPY.decode(bad.bytes, source: "bad.npy") }
    let text = error?.description ?? ""
    #expect(text.hasPrefix("bad.npy: "), "\(text)")
    #expect(text.contains(bad.expected), "\(text)")
    #expect(!text.contains("\n"))
  }

  @Test func readMissingFileNamesPath() {
    let error = #expect(throws: FileFormatError.self) { try NPY.read(contentsOf: URL(fileURLWithPath: "/no/such/tokens.npy")) }
    #expect(error?.description == "/no/such/tokens.npy: no such file")
  }
}
