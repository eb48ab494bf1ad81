import Foundation
import Testing

/// The shared data beside the repository (`../shared` relative to the repository root: reference fixtures,
/// docs, the tiny-shakespeare corpus). Tests that need it are skipped with a stated reason when it is absent,
/// except in CI (`CI=true`), where they run and fail on the missing file instead.
enum SharedData {
  /// The repository root, derived from this file's path (Tests/SAETests/SharedData.swift).
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  /// `../shared` from the repository root.
  static let root = repositoryRoot.appendingPathComponent("../shared").standardizedFileURL
  static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

  /// `relative` inside the shared directory.
  static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

  /// Enables a test when `relative` exists in the shared directory, or always in CI.
  static func needs(_ relative: String) -> ConditionTrait {
    .enabled(if: FileManager.default.fileExists(atPath: url(relative).path) || inCI,
             Comment(rawValue: "skipped: \(url(relative).path) is absent (the shared data beside the repository)"))
  }

  /// The URL of `relative`; records a failure and throws when it is absent (only reached in CI or when present).
  static func require(_ relative: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    let u = url(relative)
    try #require(FileManager.default.fileExists(atPath: u.path), "missing shared data \(u.path)", sourceLocation: sourceLocation)
    return u
  }
}
