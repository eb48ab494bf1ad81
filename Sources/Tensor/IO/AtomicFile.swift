import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes that never leave a half-written file at the destination.
public enum AtomicFile {
  /// Writes data to a temp file in the destination's directory (creating directories), then renames it over `url`.
  public static func write(_ data: Data, to url: URL) throws {
    let path = url.path
    let directory = url.deletingLastPathComponent()
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw FileFormatError("cannot write \(path): cannot create directory \(directory.path) (\(error.localizedDescription))")
    }
    let temp = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
    do {
      try data.write(to: temp)
    } catch {
      try? FileManager.default.removeItem(at: temp)
      throw FileFormatError("cannot write \(path): \(error.localizedDescription)")
    }
    if rename(temp.path, path) != 0 {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(at: temp)
      throw FileFormatError("cannot write \(path): rename failed (\(reason))")
    }
  }

  /// The bytes of the file at `url`, memory-mapped when possible; a missing or unreadable file is a `FileFormatError`.
  public static func read(_ url: URL) throws -> Data {
    let path = url.path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw FileFormatError("\(path): no such file")
    }
    if isDirectory.boolValue { throw FileFormatError("\(path): is a directory, not a file") }
    do {
      return try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
      throw FileFormatError("\(path): cannot read (\(error.localizedDescription))")
    }
  }
}
