// Shared by every harness (compiled into each): the input as Data, and checks that stop the fuzzer.
import Foundation

/// The fuzzer's input bytes.
func input(_ data: UnsafePointer<UInt8>, _ size: Int) -> Data { Data(bytes: data, count: size) }

/// A property every accepted input must have; a violation is a finding (the process traps, and libFuzzer
/// keeps the input as a crash artifact).
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
  if !condition() {
    FileHandle.standardError.write(Data("property violated: \(message())\n".utf8))
    abort()
  }
}

/// Error messages must stay on one line (the tools print them as their one-line error).
func requireOneLine(_ error: Error) {
  let text = String(describing: error)
  require(!text.contains("\n"), "multi-line error: \(text)")
}

/// What `body` returns; throwing is a finding (`what` names the step, e.g. a round trip of accepted input).
func mustSucceed<T>(_ what: String, _ body: () throws -> T) -> T? {
  do {
    return try body()
  } catch {
    require(false, "\(what) failed: \(error)")
    return nil
  }
}

/// What `read` returns, or nil when it throws (its error must be one line).
func accepted<T>(_ read: () throws -> T) -> T? {
  do {
    return try read()
  } catch {
    requireOneLine(error)
    return nil
  }
}
