/// Whether operations record their backward pass. Recording is on by default; `withNoGrad` turns it off
/// for the duration of a closure (inference, evaluation, optimizer updates).
public enum GradMode {
  @TaskLocal static var enabled = true

  /// True when new operations record a backward pass.
  public static var isEnabled: Bool { enabled }
}

/// Runs `body` with gradient recording turned off; operations inside return constants.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
  try GradMode.$enabled.withValue(false) { try body() }
}

/// Runs `body` with gradient recording turned on (inside an enclosing `withNoGrad`).
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
  try GradMode.$enabled.withValue(true) { try body() }
}
