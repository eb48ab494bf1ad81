import Foundation

/// Time spent in a run's training steps, read back from its train.log.
public enum TrainingStepTime {
  /// Seconds estimated from train.log text: each `type train` line's `dt` (the seconds of its step) times the
  /// steps since the previous counted line. A resumed run appends to the same log, repeating the steps after
  /// its last resume state; a line whose step is not beyond the last counted one is skipped. Nil when no line
  /// has both a step and a `dt`.
  public static func fromLog(_ text: String) -> Double? {
    var total = 0.0, previous = 0, counted = false
    for line in text.split(separator: "\n") {
      var step: Int?, dt: Double?
      for field in line.split(separator: "|") {
        let parts = field.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { continue }
        let value = parts[1].trimmingCharacters(in: .whitespaces)
        if parts[0] == "step" { step = Int(value) } else if parts[0] == "dt" { dt = Double(value) }
      }
      guard let step, let dt, dt.isFinite, dt >= 0, step > previous else { continue }
      total += dt * Double(step - previous)
      previous = step
      counted = true
    }
    return counted ? total : nil
  }

  /// `fromLog` of `<runDirectory>/train.log`; nil when the file is missing or unreadable.
  public static func fromLog(runDirectory: URL) -> Double? {
    guard let text = try? String(contentsOf: runDirectory.appendingPathComponent(RunLogger.Destination.train.rawValue),
                                 encoding: .utf8) else { return nil }
    return fromLog(text)
  }
}
