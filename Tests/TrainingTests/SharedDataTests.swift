import Foundation
import Testing
import TestSupport
import Training

/// The test support's CI detection and the prepared-corpus location (Tests/TestSupport/SharedData.swift),
/// checked here because the corpus is prepared with the Training module's preparation.
@Suite struct SharedDataTests {
  @Test func ciDetectionAcceptsTheUsualTruthyValues() {
    for value in ["true", "TRUE", "True", "1", "yes", "YES", "on", "On", " true "] {
      #expect(SharedData.isTruthy(value), "\(value.debugDescription) should mean CI")
    }
    for value: String? in [nil, "", "false", "FALSE", "0", "no", "off", "2", "truthy", "y"] {
      #expect(!SharedData.isTruthy(value), "\(String(describing: value)) should not mean CI")
    }
    #expect(SharedData.inCI == SharedData.isTruthy(ProcessInfo.processInfo.environment["CI"]))
  }

  /// The prepared directory is named by what was prepared: another input or another preparation gives
  /// another directory; the same input and preparation give the same one, with the prepared files in it.
  @Test func preparedCorpusPathFollowsItsInputAndPreparation() throws {
    let root = try makeTemporaryDirectory("shared-data")
    defer { try? FileManager.default.removeItem(at: root) }
    func corpus(_ name: String, _ text: String) throws -> URL {
      let url = root.appendingPathComponent(name)
      try Data(String(repeating: text, count: 40).utf8).write(to: url)  // long enough for a 256-aligned train split
      return url
    }
    let unique = UUID().uuidString  // keeps this test's directories apart from every other run's
    let a = try corpus("a.txt", "Ada Lovelace:\nThe engine weaves algebraic patterns as the loom weaves flowers. \(unique)\n")
    let b = try corpus("b.txt", "Ada Lovelace:\nThe engine weaves algebraic patterns as the loom weaves flowers! \(unique)\n")
    let prepare: (URL, URL) throws -> Void = { _ = try ShakespearePreparation.prepare(input: $0, directory: $1) }
    // The same preparation with another split (what a change to the preparation code would do).
    let otherSplit: (URL, URL) throws -> Void = { input, dir in
      let text = try String(contentsOf: input, encoding: .utf8)
      let ids = text.unicodeScalars.map { Int32($0.value) }
      try TokenShards.write(Array(ids.prefix(10)), split: .train, vocabularySize: 128, shardTokens: 1000, to: dir)
      try TokenShards.write(Array(ids.dropFirst(10)), split: .val, vocabularySize: 128, shardTokens: 1000, to: dir)
    }
    let pa = try SharedData.preparedDirectory(input: a, prepare)
    let pb = try SharedData.preparedDirectory(input: b, prepare)
    let pa2 = try SharedData.preparedDirectory(input: a, prepare)
    let pc = try SharedData.preparedDirectory(input: a, otherSplit)
    defer { for d in Set([pa, pb, pc]) { try? FileManager.default.removeItem(at: d) } }
    #expect(pa != pb, "another input must give another directory")
    #expect(pa != pc, "another preparation must give another directory")
    #expect(pa == pa2, "the same input and preparation reuse the directory")
    for dir in [pa, pb, pc] {
      let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
      #expect(names.contains("val_000000.npy") && names.contains("train_000000.npy"), "\(dir.path): \(names)")
    }
    #expect(try SharedData.contentHash(of: pa) != SharedData.contentHash(of: pb))
  }
}
