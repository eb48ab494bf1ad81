import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes that never leave a half-written file at the destination.
public enum AtomicFile {
  /// Test hook: writes to destinations under these directories fail with the errno value, as the system
  /// call would, once half the bytes reached the temporary file (a disk filling up mid-write).
  static let injectedFailures = InjectedFailures()

  final class InjectedFailures: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [String: Int32] = [:]

    /// Makes writes under `directory` fail with `code` until `remove(directory)`.
    func add(_ code: Int32, under directory: URL) {
      lock.lock()
      failures[directory.standardizedFileURL.path + "/"] = code
      lock.unlock()
    }

    func remove(_ directory: URL) {
      lock.lock()
      failures[directory.standardizedFileURL.path + "/"] = nil
      lock.unlock()
    }

    func code(for url: URL) -> Int32? {
      lock.lock()
      defer { lock.unlock() }
      guard !failures.isEmpty else { return nil }
      let path = url.standardizedFileURL.path
      return failures.first { path.hasPrefix($0.key) }?.value
    }
  }

  /// The marker in temporary file names: `.<name>.tmp-<UUID>` beside the destination.
  static let temporaryMarker = ".tmp-"

  /// Writes data to a temp file in the destination's directory (creating directories), flushes it to disk,
  /// renames it over `url` and flushes the directory. On failure (a full disk, a read-only directory) the
  /// temporary file is removed, the previous file at `url` is left as it was, and the error is one line.
  public static func write(_ data: Data, to url: URL) throws {
    let path = url.path
    let directory = url.deletingLastPathComponent()
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw FileFormatError("cannot write \(path): cannot create directory \(directory.path) (\(error.localizedDescription))")
    }
    let temp = directory.appendingPathComponent(".\(url.lastPathComponent)\(temporaryMarker)\(UUID().uuidString)").path
    func failure(_ what: String, _ code: Int32) -> FileFormatError {
      let kept = FileManager.default.fileExists(atPath: path) ? "; the previous file is intact" : ""
      return FileFormatError("cannot write \(path): \(what) failed (\(String(cString: strerror(code))))\(kept)")
    }
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
    guard fd >= 0 else { throw failure("creating a temporary file", errno) }
    var written = false
    defer { if !written { unlink(temp) } }
    do {
      try writeAll(data, to: fd, injected: injectedFailures.code(for: url))
      guard fsync(fd) == 0 else { throw ErrnoError(code: errno) }
    } catch {
      close(fd)
      throw failure("writing", (error as? ErrnoError)?.code ?? EIO)
    }
    guard close(fd) == 0 else { throw failure("closing the temporary file", errno) }
    guard rename(temp, path) == 0 else { throw failure("renaming the temporary file", errno) }
    written = true
    syncDirectory(directory.path)
  }

  /// Writes every byte of `data` to `fd` (retrying interrupted and partial writes); throws the errno value.
  /// `injected` fails the write with that errno once half the bytes are written.
  private static func writeAll(_ data: Data, to fd: Int32, injected: Int32?) throws {
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
      guard let base = raw.baseAddress else {
        if let injected { throw ErrnoError(code: injected) }
        return
      }
      var offset = 0
      let stop = injected == nil ? raw.count : raw.count / 2
      while offset < stop {
        let n = systemWrite(fd, base + offset, Swift.min(stop - offset, 1 << 30))
        if n < 0 {
          if errno == EINTR { continue }
          throw ErrnoError(code: errno)
        }
        offset += n
      }
      if let injected { throw ErrnoError(code: injected) }
    }
  }

  /// Flushes a directory's entries (renames into it) to disk; best effort (some file systems refuse).
  public static func syncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = fsync(fd)
    close(fd)
  }

  /// Removes the temporary files that writes interrupted by a crash left in `directory` (not recursive) and
  /// returns their names. Call it only while no other process can be writing there (e.g. holding its lock).
  @discardableResult
  public static func removeStaleTemporaries(in directory: URL) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    var removed: [String] = []
    for name in names.sorted() where name.hasPrefix(".") && name.contains(temporaryMarker) {
      if unlink(directory.appendingPathComponent(name).path) == 0 { removed.append(name) }
    }
    return removed
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

/// An errno value raised inside `AtomicFile`.
private struct ErrnoError: Error { var code: Int32 }

/// write(2), named so that it does not clash with `AtomicFile.write`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  #if canImport(Glibc)
  Glibc.write(fd, buffer, count)
  #else
  Darwin.write(fd, buffer, count)
  #endif
}
