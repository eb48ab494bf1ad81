import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM as a request to stop at the next safe point (for training: after the current step, with
/// the resume state written). Tools call `install`; loops poll `pending`. A second signal ends the process at
/// once with status 128 + the signal (what is already written stays valid: every file is written atomically).
public enum StopRequest {
  private final class State: @unchecked Sendable {
    let lock = NSLock()
    var signal: Int32 = 0
    var sources: [DispatchSourceSignal] = []
  }
  private static let state = State()

  /// Handles SIGINT and SIGTERM from now on (idempotent); `stopping` ends the notice printed when one
  /// arrives ("stopping after the current step").
  public static func install(stopping: String) {
    state.lock.lock()
    defer { state.lock.unlock() }
    guard state.sources.isEmpty else { return }
    for sig in [SIGINT, SIGTERM] {
      signal(sig, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler { received(sig, stopping: stopping) }
      source.resume()
      state.sources.append(source)
    }
  }

  private static func received(_ sig: Int32, stopping: String) {
    state.lock.lock()
    let first = state.signal == 0
    if first { state.signal = sig }
    state.lock.unlock()
    guard first else {
      // Re-raising would not work: the dispatch source keeps receiving the signal. What is on disk is valid
      // (every write is atomic); the lock file left behind is taken over by the next start.
      Terminal.line("\(name(sig)) received again: stopping at once")
      _exit(128 + sig)
    }
    Terminal.line("\(name(sig)) received: \(stopping) (send it again to stop at once)")
  }

  /// The first stop signal received, or nil.
  public static var pending: Int32? {
    state.lock.lock()
    defer { state.lock.unlock() }
    return state.signal == 0 ? nil : state.signal
  }

  /// "SIGINT", "SIGTERM" or "signal N".
  public static func name(_ sig: Int32) -> String {
    switch sig {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    default: return "signal \(sig)"
    }
  }
}

/// A run stopped by a signal after writing its resume state (or a tool stopped between units of work).
/// `exitCode` is the shell's convention for a death by that signal: 128 + the signal number.
public struct StopError: Error, CustomStringConvertible {
  public var signal: Int32
  /// What was stopped and where to continue, on one line.
  public var detail: String

  public init(signal: Int32, detail: String) {
    self.signal = signal
    self.detail = detail
  }

  public var description: String { "stopped by \(StopRequest.name(signal)): \(detail)" }
  public var exitCode: Int32 { 128 + signal }

  /// The error of training runs stopped after writing their resume states.
  static func training(signal: Int32, _ runs: [TrainingRun]) -> StopError {
    let parts = runs.map { run in
      "run \(run.label) after step \(run.step)" + (run.directory.map { " (resume state in \($0.appendingPathComponent("resume").path))" } ?? "")
    }
    return StopError(signal: signal, detail: parts.joined(separator: ", ") + "; continue with --resume")
  }
}
