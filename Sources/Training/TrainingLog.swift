import Foundation
import Tensor

/// One value of a log line, printed as the reference does: floats with 4 decimals, vectors space-separated.
public enum LogValue: Sendable {
  case int(Int)
  case float(Float)
  case vector([Float])
  case bool(Bool)
  case text(String)

  var rendered: String {
    switch self {
    case .int(let v): return String(v)
    case .float(let v): return String(format: "%.4f", v)
    case .vector(let v): return v.map { String(format: "%.4f", $0) }.joined(separator: " ")
    case .bool(let v): return v ? "True" : "False"
    case .text(let v): return v
    }
  }
}

/// A log line: ordered `key value` pairs joined by " | ".
public struct LogLine: Sendable {
  public var fields: [(String, LogValue)]
  public init(_ fields: [(String, LogValue)]) { self.fields = fields }
  public var text: String { fields.map { "\($0.0) \($0.1.rendered)" }.joined(separator: " | ") }
  /// `lr` as the reference prints it (`1.0e-03`).
  public static func learningRate(_ lr: Float) -> LogValue { .text(String(format: "%.1e", lr)) }
  /// Seconds with 3 decimals.
  public static func seconds(_ s: Double) -> LogValue { .text(String(format: "%.3f", s)) }
}

/// Appends log lines to `train.log`, `eval.log` and `debug.log` in a run directory and echoes them to stderr.
public final class RunLogger {
  public enum Destination: String { case train = "train.log", eval = "eval.log", debug = "debug.log" }
  public let directory: URL
  /// Echo lines to standard error.
  public var echo: Bool
  /// Append lines to the log files (off on the ranks of a data-parallel job other than rank 0).
  public var writes = true

  public init(directory: URL, echo: Bool = true) {
    self.directory = directory
    self.echo = echo
  }

  public func log(_ line: LogLine, to destination: Destination) throws {
    try append(line.text, to: destination)
  }

  public func append(_ text: String, to destination: Destination) throws {
    if echo { Terminal.line(text) }
    guard writes else { return }
    let url = directory.appendingPathComponent(destination.rawValue)
    if !FileManager.default.fileExists(atPath: url.path) {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
        throw TrainingError("cannot create \(url.path)")
      }
    }
    guard let handle = FileHandle(forWritingAtPath: url.path) else {
      throw TrainingError("cannot open \(url.path) for writing")
    }
    defer { try? handle.close() }
    do {
      try handle.seekToEnd()
      try handle.write(contentsOf: Data((text + "\n").utf8))
    } catch {
      throw TrainingError("cannot append to \(url.path): \(error.localizedDescription)")
    }
  }
}

/// Standard-error output with an optional transient progress line (only when stderr is a terminal).
public enum Terminal {
  /// True when standard error is attached to a terminal.
  public static let isInteractive: Bool = isatty(2) != 0
  nonisolated(unsafe) static var progressShown = false

  /// Writes a line to stderr (clearing a progress line first).
  public static func line(_ text: String) {
    clearProgress()
    try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
  }

  /// Shows `text` as the progress line (terminal only).
  public static func progress(_ text: String) {
    guard isInteractive else { return }
    try? FileHandle.standardError.write(contentsOf: Data(("\r\u{1B}[2K" + text).utf8))
    progressShown = true
  }

  /// Removes the progress line.
  public static func clearProgress() {
    guard progressShown else { return }
    try? FileHandle.standardError.write(contentsOf: Data("\r\u{1B}[2K".utf8))
    progressShown = false
  }

  /// "1h02m", "3m05s", "12s".
  public static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite && seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
  }
}

/// A one-line error from training (bad configuration, data, non-finite loss, resume state).
public struct TrainingError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description.onOneLine }
}

/// Monotonic wall-clock seconds.
public func monotonicSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
