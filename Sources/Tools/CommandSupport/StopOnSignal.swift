import ArgumentParser
import Foundation
import Training

/// Runs a tool's work with SIGINT and SIGTERM handled as stop requests (`StopRequest`): `stopping` completes
/// the notice printed when one arrives ("stopping after the current step"). A `StopError` thrown by the work
/// is printed as one line and ends the process with status 128 + the signal number (130 for SIGINT, 143
/// for SIGTERM), as a death by that signal would.
public func withStopOnSignal(stopping: String, _ work: () throws -> Void) throws {
  StopRequest.install(stopping: stopping)
  do {
    try work()
  } catch let e as StopError {
    Terminal.clearProgress()
    Terminal.line(e.description)
    throw ExitCode(e.exitCode)
  }
}

/// Throws `StopError` with `detail` when a stop signal has arrived (for tools that stop between units of work).
public func stopIfRequested(_ detail: @autoclosure () -> String) throws {
  if let signal = StopRequest.pending { throw StopError(signal: signal, detail: detail()) }
}
