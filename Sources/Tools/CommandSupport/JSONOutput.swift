import Foundation

/// Prints exactly one JSON object on standard output (keys sorted), for `--json` summaries. A summary that is
/// not valid JSON, or standard output refusing the bytes (a full disk), is a one-line error.
public func printJSONObject(_ object: [String: Any]) throws {
  guard JSONSerialization.isValidJSONObject(object),
        let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
    throw ToolError("internal error: the summary is not valid JSON: \(object)")
  }
  do {
    try FileHandle.standardOutput.write(contentsOf: data + Data("\n".utf8))
  } catch {
    throw ToolError("cannot write the JSON summary to standard output: \(error.localizedDescription)")
  }
}

/// A finite Double for JSON (NaN and infinities become nil, which callers drop).
public func jsonNumber(_ x: Float) -> Double? { x.isFinite ? Double(x) : nil }
