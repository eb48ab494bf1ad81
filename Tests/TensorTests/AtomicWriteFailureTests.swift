import Foundation
import Testing
@testable import Tensor

/// Atomic writes when the disk fills up (an injected ENOSPC half-way through the bytes, as a full file system
/// fails them), crash leftovers, and the non-finite scan the checkpoint writers use.
@Suite struct AtomicWriteFailureTests {
  /// Files in `directory` (hidden ones too).
  static func names(_ directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
  }

  @Test func aFailedWriteKeepsThePreviousFileAndRemovesTheTemporary() throws {
    let dir = try IOTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("model.safetensors")
    try AtomicFile.write(Data("previous".utf8), to: url)
    AtomicFile.injectedFailures.add(ENOSPC, under: dir)
    defer { AtomicFile.injectedFailures.remove(dir) }
    let error = try #require(throws: FileFormatError.self) {
      try AtomicFile.write(Data(repeating: 7, count: 100_000), to: url)
    }
    #expect(error.description == "cannot write \(url.path): writing failed (No space left on device); the previous file is intact")
    #expect(try Data(contentsOf: url) == Data("previous".utf8))
    #expect(try Self.names(dir) == ["model.safetensors"])
    // Without a previous file, nothing is left at all.
    let fresh = dir.appendingPathComponent("new.json")
    let second = try #require(throws: FileFormatError.self) { try AtomicFile.write(Data("{}".utf8), to: fresh) }
    #expect(second.description == "cannot write \(fresh.path): writing failed (No space left on device)")
    #expect(try Self.names(dir) == ["model.safetensors"])
    // An empty write fails too (the injection does not need bytes), and other directories are unaffected.
    #expect(throws: FileFormatError.self) { try AtomicFile.write(Data(), to: fresh) }
    let other = try IOTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: other) }
    try AtomicFile.write(Data("ok".utf8), to: other.appendingPathComponent("x"))
    AtomicFile.injectedFailures.remove(dir)
    try AtomicFile.write(Data("next".utf8), to: url)
    #expect(try Data(contentsOf: url) == Data("next".utf8))
  }

  @Test func aWriteIntoAnUnwritableDirectoryIsOneLine() throws {
    let dir = try IOTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    // A regular file where the directory should be.
    let blocker = dir.appendingPathComponent("blocker")
    try Data("x".utf8).write(to: blocker)
    let error = try #require(throws: FileFormatError.self) {
      try AtomicFile.write(Data("y".utf8), to: blocker.appendingPathComponent("file"))
    }
    #expect(error.description.hasPrefix("cannot write \(blocker.path)/file: cannot create directory"))
    #expect(!error.description.contains("\n"))
  }

  @Test func staleTemporariesAreRemovedAndNothingElse() throws {
    let dir = try IOTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    for name in [".model.safetensors.tmp-1234", ".sae.json.tmp-ABCD", "model.safetensors", ".lock", "notes.tmp-1"] {
      try Data().write(to: dir.appendingPathComponent(name))
    }
    #expect(AtomicFile.removeStaleTemporaries(in: dir) == [".model.safetensors.tmp-1234", ".sae.json.tmp-ABCD"])
    #expect(try Self.names(dir) == [".lock", "model.safetensors", "notes.tmp-1"])
    #expect(AtomicFile.removeStaleTemporaries(in: dir.appendingPathComponent("missing")).isEmpty)
  }

  @Test func firstNonFiniteNamesTheTensorAndIndex() {
    var file = SafeTensorsFile(tensors: ["b": Tensor(shape: [3], scalars: [0, 1, 2]), "a": Tensor(shape: [2], scalars: [1, 2])])
    #expect(file.firstNonFinite == nil)
    file.tensors["c"] = Tensor(shape: [2, 2], scalars: [0, 0, .nan, .infinity])
    file.tensors["d"] = Tensor(shape: [1], scalars: [-.infinity])
    #expect(file.firstNonFinite == "'c' holds NaN at index 2")
    file.tensors["c"] = nil
    #expect(file.firstNonFinite == "'d' holds -inf at index 0")
    #expect(Tensor(shape: [3], scalars: [1, .infinity, .nan]).firstNonFiniteIndex == 1)
  }
}
