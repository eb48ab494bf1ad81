import Foundation
import Testing
@testable import Tensor

@Suite struct SafeTensorsTests {
  typealias S = IOTestSupport

  // MARK: Round trips

  @Test func roundTripFloatIntAndMetadata() throws {
    let file = SafeTensorsFile(
      tensors: [
        "w": Tensor(shape: [2, 3], scalars: [1, -2, 3.5, 0, -0.0, .infinity]),
        "scalar": Tensor(scalar: 4.25),
        "empty": Tensor(zeros: [0, 3]),
        "cube": Tensor(shape: [2, 2, 2], scalars: (0..<8).map { Float($0) * 0.1 }),
      ],
      intTensors: ["ids": IntTensor(shape: [2, 2], scalars: [1, -2, .max, .min]), "none": IntTensor(zeros: [0])],
      metadata: ["b": "two", "a": "one \"quoted\" \\ and\nnewline é \u{1}"])
    for dtype in ["I64", "I32"] {
      let bytes = SafeTensors.encode(file, intDType: dtype)
      let back = try SafeTensors.decode(bytes)
      #expect(back.tensors == file.tensors)
      #expect(back.intTensors == file.intTensors)
      #expect(back.metadata == file.metadata)
      // -0 survives bit-exactly.
      #expect(back.tensors["w"]!.scalars[4].bitPattern == (-0.0 as Float).bitPattern)
      let headerLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
      #expect((8 + headerLength) % 8 == 0)
    }
  }

  @Test func emptyFileHasNoMetadataKey() throws {
    let bytes = SafeTensors.encode(SafeTensorsFile())
    #expect(Array(bytes) == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
    let back = try SafeTensors.decode(bytes)
    #expect(back.tensors.isEmpty && back.intTensors.isEmpty && back.metadata.isEmpty)
    let withTensor = SafeTensors.encode(SafeTensorsFile(tensors: ["x": Tensor([1])]))
    #expect(!String(decoding: withTensor, as: UTF8.self).contains("__metadata__"))
  }

  @Test func headerLayoutOrderAndOffsets() throws {
    let file = SafeTensorsFile(tensors: ["b": Tensor([1, 2]), "a": Tensor([3])], intTensors: ["c": IntTensor([9])],
                               metadata: ["k": "v"])
    let bytes = SafeTensors.encode(file)
    let n = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
    #expect(header == #"{"__metadata__":{"k":"v"},"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"# + "    ")  // as Python writes it
    #expect(bytes.count == 8 + n + 20)
    let i32 = SafeTensors.encode(file, intDType: "I32")
    let n32 = Int(i32.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    let header32 = String(decoding: i32[8..<(8 + n32)], as: UTF8.self)
    #expect(header32.hasPrefix(#"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"c":{"dtype":"I32","shape":[1],"data_offsets":[12,16]}}"#))
  }

  @Test func writeAndReadLargeFile() throws {
    let dir = try S.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let n = 1 << 20
    var big = Tensor(uninitialized: [1024, 1024])
    big.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i] = Float(i) * 0.5 - 3 } }
    let url = dir.appendingPathComponent("nested/dir/big.safetensors")
    try SafeTensors.write(SafeTensorsFile(tensors: ["big": big], metadata: ["m": "1"]), to: url)
    let back = try SafeTensors.read(contentsOf: url)
    #expect(back.tensors["big"] == big)
    #expect(back.metadata == ["m": "1"])
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
    #expect(leftovers == ["big.safetensors"])
  }

  @Test func readMissingFileNamesPath() {
    let url = URL(fileURLWithPath: "/nonexistent-io-test/x.safetensors")
    let error = #expect(throws: FileFormatError.self) { try SafeTensors.read(contentsOf: url) }
    #expect(error?.description.contains("/nonexistent-io-test/x.safetensors") == true)
  }

  // MARK: Half precision

  @Test func float16AndBFloat16Decoding() throws {
    // F16 bit patterns → expected Float32 values.
    let f16: [(UInt16, Float)] = [
      (0x0000, 0), (0x8000, -0.0), (0x3c00, 1), (0xc000, -2), (0x3800, 0.5), (0x7bff, 65504),
      (0x0400, 0x1p-14), (0x0001, 0x1p-24), (0x03ff, 1023 * 0x1p-24), (0x8001, -0x1p-24),
      (0x3555, 0.333251953125), (0x7c00, .infinity), (0xfc00, -.infinity),
    ]
    let bf16: [(UInt16, Float)] = [
      (0x3f80, 1), (0xc000, -2), (0x3eab, 0.333984375), (0x4049, 3.140625), (0x7f80, .infinity),
      (0x0001, Float(bitPattern: 0x0001_0000)), (0x8000, -0.0),
    ]
    let nan16: [UInt16] = [0x7e00, 0xfe01, 0x7c01]
    let nanBF: [UInt16] = [0x7fc0, 0xffc1]
    let h16 = f16.map(\.0) + nan16, hbf = bf16.map(\.0) + nanBF
    let header = #"{"h":{"dtype":"F16","shape":[\#(h16.count)],"data_offsets":[0,\#(2 * h16.count)]},"b":{"dtype":"BF16","shape":[\#(hbf.count)],"data_offsets":[\#(2 * h16.count),\#(2 * h16.count + 2 * hbf.count)]}}"#
    let file = try SafeTensors.decode(S.safetensors(header: header, data: S.bytes(h16) + S.bytes(hbf)))
    let h = try #require(file.tensors["h"]).scalars, b = try #require(file.tensors["b"]).scalars
    #expect(S.bits(Array(h.prefix(f16.count))) == S.bits(f16.map(\.1)))
    #expect(h.suffix(nan16.count).allSatisfy { $0.isNaN })
    #expect(h[h.count - 2].sign == .minus)
    #expect(S.bits(Array(b.prefix(bf16.count))) == S.bits(bf16.map(\.1)))
    #expect(b.suffix(nanBF.count).allSatisfy { $0.isNaN })
  }

  #if !(os(macOS) && arch(x86_64))
  @Test func float16AllBitPatternsMatchSwiftFloat16() throws {
    let patterns = (0...0xffff).map { UInt16($0) }
    let header = #"{"all":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}}"#
    let got = try #require(try SafeTensors.decode(S.safetensors(header: header, data: S.bytes(patterns))).tensors["all"]).scalars
    var mismatches = 0
    for (i, p) in patterns.enumerated() {
      let want = Float(Float16(bitPattern: p))
      if want.isNaN {
        if !got[i].isNaN || got[i].sign != want.sign { mismatches += 1 }
      } else if got[i].bitPattern != want.bitPattern {
        mismatches += 1
      }
    }
    #expect(mismatches == 0)
  }
  #endif

  // MARK: Python-written fixtures

  @Test func pythonMixedFixture() throws {
    let file = try SafeTensors.decode(S.fixture("io_mixed.safetensors"), source: "io_mixed.safetensors")
    #expect(file.metadata == ["format": "pt", "note": "quote \" backslash \\ newline \n é"])
    #expect(Set(file.tensors.keys) == ["weight", "half", "brain"])
    #expect(Set(file.intTensors.keys) == ["ids", "counts"])
    let weight = try #require(file.tensors["weight"])
    #expect(weight.shape == [2, 3])
    #expect(S.bits(weight.scalars) == S.bits([1.5, -2.25, 0.0, 3.0e-38, 1.0e30, -0.125]))
    let half = try #require(file.tensors["half"])
    #expect(half.shape == [13])
    let expectedHalf: [Float] = [0, -0.0, 1, -2, 0.5, 65504, 0x1p-14, 0x1p-24, 1023 * 0x1p-24, 0.333251953125,
                                 .infinity, -.infinity]
    #expect(S.bits(Array(half.scalars.prefix(12))) == S.bits(expectedHalf))
    #expect(half.scalars[12].isNaN)
    let brain = try #require(file.tensors["brain"])
    #expect(brain.shape == [10])
    let expectedBrain: [Float] = [1, -2, 0.333984375, 3.140625, .infinity, -.infinity]
    #expect(S.bits(Array(brain.scalars.prefix(6))) == S.bits(expectedBrain))
    #expect(brain.scalars[6].isNaN)
    #expect(S.bits(Array(brain.scalars.suffix(3))) == S.bits([Float(bitPattern: 0x0001_0000), -0.0, 0]))
    #expect(file.intTensors["ids"] == IntTensor(shape: [2, 3], scalars: [0, 1, -1, .max, .min, 42]))
    #expect(file.intTensors["counts"] == IntTensor(shape: [3], scalars: [7, -8, .max]))
  }

  /// The content of `io_f32_i64.safetensors` as written by make_io_fixtures.py.
  static let f32I64Content = SafeTensorsFile(
    tensors: [
      "lm_head.weight": Tensor(shape: [2, 3], scalars: [0, 0.25, 0.5, 0.75, 1, 1.25]),
      "b.bias": Tensor([-1, 2.5]),
      "scalar": Tensor(scalar: 3.25),
      "empty": Tensor(zeros: [0, 3]),
    ],
    intTensors: ["tokens": IntTensor(shape: [2, 2], scalars: [5, 6, 7, 8]), "a_ids": IntTensor([-3])],
    metadata: ["transformer.wte.weight": "lm_head.weight"])

  @Test func pythonF32I64FixtureValuesAndBytes() throws {
    let python = try S.fixture("io_f32_i64.safetensors")
    let file = try SafeTensors.decode(python)
    let want = Self.f32I64Content
    #expect(file.tensors == want.tensors)
    #expect(file.intTensors == want.intTensors)
    #expect(file.metadata == want.metadata)
    #expect(file.tensors["scalar"]?.shape == [])
    #expect(file.tensors["empty"]?.shape == [0, 3])
    #expect(SafeTensors.encode(want) == python)
  }

  @Test func pythonF32I32FixtureBytes() throws {
    let python = try S.fixture("io_f32_i32.safetensors")
    let want = SafeTensorsFile(tensors: ["z": Tensor([1]), "a": Tensor(shape: [1, 1], scalars: [0.5])],
                               intTensors: ["ids": IntTensor([1, 2, 3])])
    let file = try SafeTensors.decode(python)
    #expect(file.tensors == want.tensors)
    #expect(file.intTensors == want.intTensors)
    #expect(file.metadata.isEmpty)
    #expect(SafeTensors.encode(want, intDType: "I32") == python)
    #expect(SafeTensors.encode(want, intDType: "I64") != python)
  }

  // MARK: Validation

  struct BadFile: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: Data
    var expected: String
    var testDescription: String { name }
  }

  static let f32x2 = S.bytes([Float(1), 2])

  static let badFiles: [BadFile] = [
    BadFile(name: "short", bytes: Data([1, 2, 3]), expected: "shorter than the 8-byte header length"),
    BadFile(name: "header longer than file", bytes: S.rawSafetensors(headerBytes: Array("{}".utf8)).prefix(9) + Data(),
            expected: "exceeds the file size"),
    BadFile(name: "absurd header", bytes: Data(S.bytes([UInt64(200_000_000)]) + Array("{}      ".utf8)),
            expected: "absurd"),
    BadFile(name: "not utf8", bytes: S.rawSafetensors(headerBytes: [0x7b, 0xff, 0xfe, 0x7d, 0x20, 0x20, 0x20, 0x20]),
            expected: "not valid UTF-8"),
    BadFile(name: "not json", bytes: S.safetensors(header: #"{"a":"#), expected: "not valid JSON"),
    BadFile(name: "trailing garbage", bytes: S.safetensors(header: #"{} x"#), expected: "not valid JSON"),
    BadFile(name: "not an object", bytes: S.safetensors(header: "[1, 2]"), expected: "expected an object"),
    BadFile(name: "entry not object", bytes: S.safetensors(header: #"{"t":[1]}"#), expected: "entry for tensor 't' is a JSON array"),
    BadFile(name: "missing dtype", bytes: S.safetensors(header: #"{"t":{"shape":[2],"data_offsets":[0,8]}}"#, data: f32x2),
            expected: "tensor 't' has no dtype"),
    BadFile(name: "missing shape", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","data_offsets":[0,8]}}"#, data: f32x2),
            expected: "tensor 't' has no shape"),
    BadFile(name: "missing offsets", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[2]}}"#, data: f32x2),
            expected: "tensor 't' has no data_offsets"),
    BadFile(name: "dtype not string", bytes: S.safetensors(header: #"{"t":{"dtype":5,"shape":[2],"data_offsets":[0,8]}}"#, data: f32x2),
            expected: "dtype that is not a string"),
    BadFile(name: "shape not array", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}"#, data: f32x2),
            expected: "shape that is not an array"),
    BadFile(name: "shape not integer", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: f32x2),
            expected: "not an integer"),
    BadFile(name: "unknown dtype", bytes: S.safetensors(header: #"{"t":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#, data: f32x2),
            expected: "unsupported dtype 'F99'"),
    BadFile(name: "unsupported F64", bytes: S.safetensors(header: #"{"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, data: f32x2),
            expected: "unsupported dtype 'F64'"),
    BadFile(name: "negative dim", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: f32x2),
            expected: "negative dimension -2"),
    BadFile(name: "offsets reversed", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: f32x2),
            expected: "data_offsets that are not [begin, end]"),
    BadFile(name: "offsets one element", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[8]}}"#, data: f32x2),
            expected: "data_offsets that are not [begin, end]"),
    BadFile(name: "offsets not integers", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":["0",8]}}"#, data: f32x2),
            expected: "data_offsets that are not [begin, end]"),
    BadFile(name: "length mismatch", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: f32x2),
            expected: "has 8 bytes but shape [3] of F32 needs 12"),
    BadFile(name: "out of data section", bytes: S.safetensors(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: f32x2),
            expected: "outside the data section (8 bytes)"),
    BadFile(name: "overlap", bytes: S.safetensors(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: f32x2 + f32x2.prefix(4)),
            expected: "overlap"),
    BadFile(name: "gap", bytes: S.safetensors(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: f32x2),
            expected: "data section has 4 bytes not covered by any tensor"),
    BadFile(name: "trailing bytes", bytes: S.safetensors(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: f32x2 + [0, 0]),
            expected: "data section has 2 bytes not covered by any tensor"),
    BadFile(name: "metadata not object", bytes: S.safetensors(header: #"{"__metadata__":["x"]}"#),
            expected: "__metadata__ is a JSON array"),
    BadFile(name: "metadata value not string", bytes: S.safetensors(header: #"{"__metadata__":{"k":1}}"#),
            expected: "__metadata__ value for 'k' is a JSON number"),
    BadFile(name: "I64 out of Int32 range", bytes: S.safetensors(header: #"{"i":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, data: S.bytes([Int64(1), Int64(1) << 32])),
            expected: "holds 4294967296 at index 1, which does not fit in Int32"),
  ]

  @Test(arguments: badFiles) func rejectsMalformedFile(_ bad: BadFile) {
    let error = #expect(throws: FileFormatError.self) { try SafeTensors.decode(bad.bytes, source: "bad.safetensors") }
    let text = error?.description ?? ""
    #expect(text.hasPrefix("bad.safetensors: "), "\(text)")
    #expect(text.contains(bad.expected), "\(text)")
    #expect(!text.contains("\n"))
  }

  @Test func acceptsUnpaddedHeaderAndZeroSizeTensorsAnywhere() throws {
    // Python's reader does not require padding; zero-size tensors may share an offset.
    let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"I32","shape":[0],"data_offsets":[8,8]},"f":{"dtype":"F32","shape":[0, 4],"data_offsets":[8,8]}}"#
    let file = try SafeTensors.decode(S.safetensors(header: header, data: Self.f32x2, pad: false))
    #expect(file.tensors["a"]?.scalars == [1, 2])
    #expect(file.intTensors["e"] == IntTensor(zeros: [0]))
    #expect(file.tensors["f"]?.shape == [0, 4])
  }
}

@Suite struct AtomicFileTests {
  @Test func writeCreatesDirectoriesAndReplaces() throws {
    let dir = try IOTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("a/b/c.bin")
    try AtomicFile.write(Data([1, 2, 3]), to: url)
    #expect(try Data(contentsOf: url) == Data([1, 2, 3]))
    try AtomicFile.write(Data([9]), to: url)
    #expect(try Data(contentsOf: url) == Data([9]))
    #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["c.bin"])
  }

  @Test func writeOverDirectoryFailsCleanly() throws {
    let dir = try IOTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let target = dir.appendingPathComponent("occupied")
    try FileManager.default.createDirectory(at: target.appendingPathComponent("inside"), withIntermediateDirectories: true)
    let error = #expect(throws: FileFormatError.self) { try AtomicFile.write(Data([1]), to: target) }
    #expect(error?.description.contains(target.path) == true)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["occupied"])
  }
}
