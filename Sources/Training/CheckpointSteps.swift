import Foundation
import Tensor

/// The training step each part of a run's best checkpoint was saved at, kept beside the checkpoint as
/// `checkpoint-steps.json` (`{"model": 10000}` for a GPT run; one entry per SAE key for an SAE run), so that
/// every report of a reloaded checkpoint can name its step.
public struct CheckpointSteps: Codable, Equatable, Sendable {
  /// The file name inside a run directory.
  public static let fileName = "checkpoint-steps.json"
  /// The key naming a GPT run's model.
  public static let modelKey = "model"

  /// Part name (an SAE key, or `model`) → the step its saved weights come from.
  public var steps: [String: Int]

  public init(steps: [String: Int]) { self.steps = steps }

  /// Reads `<runDirectory>/checkpoint-steps.json`; nil when the run has none (e.g. a reference checkpoint).
  public static func read(from runDirectory: URL) throws -> CheckpointSteps? {
    let url = runDirectory.appendingPathComponent(fileName)
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    do {
      return CheckpointSteps(steps: try JSONDecoder().decode([String: Int].self, from: try AtomicFile.read(url)))
    } catch {
      throw TrainingError("corrupt \(url.path): \(error)")
    }
  }

  /// Writes `<runDirectory>/checkpoint-steps.json` atomically.
  public func write(to runDirectory: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try AtomicFile.write(try encoder.encode(steps), to: runDirectory.appendingPathComponent(Self.fileName))
  }

  /// "0_act 7500, 1_act 7250, …" in the given key order (keys without a step are left out).
  public func rendered(order: [String]) -> String {
    order.compactMap { key in steps[key].map { "\(key) \($0)" } }.joined(separator: ", ")
  }
}
