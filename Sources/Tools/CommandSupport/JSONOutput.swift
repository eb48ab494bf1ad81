import Foundation

/// Prints exactly one JSON object on standard output (keys sorted), for `--json` summaries.
public func printJSONObject(_ object: [String: Any]) {
  guard JSONSerialization.isValidJSONObject(object),
        let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
    FileHandle.standardError.write(Data("internal error: summary is not valid JSON: \(object)\n".utf8))
    return
  }
  FileHandle.standardOutput.write(data)
  FileHandle.standardOutput.write(Data("\n".utf8))
}

/// A finite Double for JSON (NaN and infinities become nil, which callers drop).
public func jsonNumber(_ x: Float) -> Double? { x.isFinite ? Double(x) : nil }
