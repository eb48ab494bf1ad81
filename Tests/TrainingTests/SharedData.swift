import Foundation
import Testing
import Training

/// The shared data beside the repository (`../shared` relative to the repository root: reference fixtures,
/// docs, the tiny-shakespeare corpus). Tests that need it are skipped with a stated reason when it is absent,
/// except in CI (`CI=true`), where they run and fail on the missing file instead.
enum SharedData {
  /// The repository root, derived from this file's path (Tests/TrainingTests/SharedData.swift).
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  /// `../shared` from the repository root.
  static let root = repositoryRoot.appendingPathComponent("../shared").standardizedFileURL
  static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
  static let corpus = "data/tinyshakespeare/input.txt"

  /// `relative` inside the shared directory.
  static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

  /// Enables a test when every path exists in the shared directory, or always in CI.
  static func needs(_ relatives: String...) -> ConditionTrait {
    let missing = relatives.filter { !FileManager.default.fileExists(atPath: url($0).path) }
    return .enabled(if: missing.isEmpty || inCI,
                    Comment(rawValue: "skipped: \(missing.map { url($0).path }.joined(separator: ", ")) absent (the shared data beside the repository)"))
  }

  /// The URL of `relative`; records a failure and throws when it is absent (only reached in CI or when present).
  static func require(_ relative: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    let u = url(relative)
    try #require(FileManager.default.fileExists(atPath: u.path), "missing shared data \(u.path)", sourceLocation: sourceLocation)
    return u
  }

  /// The classic corpus prepared with `ShakespearePreparation` into a temporary directory, once per test process.
  static func preparedClassicCorpus() throws -> URL { try PreparedClassicCorpus.shared.directory() }
}

/// Prepares the classic corpus on first use; later callers get the same directory.
final class PreparedClassicCorpus: @unchecked Sendable {
  static let shared = PreparedClassicCorpus()
  private let lock = NSLock()
  private var prepared: URL?

  func directory() throws -> URL {
    lock.lock()
    defer { lock.unlock() }
    if let prepared { return prepared }
    let input = try SharedData.require(SharedData.corpus)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("classic-shakespeare-\(UUID().uuidString)")
    _ = try ShakespearePreparation.prepare(input: input, directory: dir)
    prepared = dir
    return dir
  }
}
