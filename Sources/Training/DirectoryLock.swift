import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive claim on a run or output directory (or one output file) by this process: a lock file holding
/// the owner's pid, locked with `flock` so that the claim ends when the process ends, however it ends.
///
/// A second claim — from another process, or another lock in this one — is refused with a one-line error
/// naming the holder's pid. A lock file left by a process that died without releasing it (SIGKILL, a power
/// cut) is taken over with a notice on stderr. Releasing (or deinitialising) removes the lock file, and the
/// directories the claim created when they are still empty (a tool that failed leaves nothing behind).
public final class DirectoryLock {
  /// The lock file.
  public let url: URL
  /// What the lock protects, as errors name it ("run directory checkpoints/x").
  public let subject: String
  /// The pid of the process whose lock file was taken over, if any.
  public private(set) var tookOverFrom: Int32?
  private var fd: Int32 = -1
  /// Directories created for the lock file, deepest first (removed on release when empty).
  private var created: [URL] = []

  /// The lock file of a run or output directory: `<directory>/.lock`.
  public static func url(forDirectory directory: URL) -> URL { directory.appendingPathComponent(".lock") }

  /// The lock file of an output file: `.<name>.lock` beside it.
  public static func url(forFile file: URL) -> URL {
    file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).lock")
  }

  /// Claims `directory` (created if needed) through `<directory>/.lock`.
  public convenience init(directory: URL, subject: String? = nil, notice: (String) -> Void = { Terminal.line($0) }) throws {
    try self.init(lockFile: Self.url(forDirectory: directory), subject: subject ?? "directory \(directory.path)", notice: notice)
  }

  /// Claims what `lockFile` protects (its directory is created if needed); `subject` names it in messages;
  /// `notice` receives the one-line notice when a dead process's lock file is taken over.
  public init(lockFile: URL, subject: String, notice: (String) -> Void = { Terminal.line($0) }) throws {
    url = lockFile
    self.subject = subject
    let path = lockFile.path
    var missing = lockFile.deletingLastPathComponent().standardizedFileURL
    while !FileManager.default.fileExists(atPath: missing.path) && missing.path != "/" {
      created.append(missing)
      missing = missing.deletingLastPathComponent()
    }
    do {
      try FileManager.default.createDirectory(at: lockFile.deletingLastPathComponent(), withIntermediateDirectories: true)
    } catch {
      throw TrainingError("cannot lock \(subject): \(error.localizedDescription)")
    }
    while true {
      let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
      guard fd >= 0 else {
        throw TrainingError("cannot lock \(subject): cannot open \(path) (\(String(cString: strerror(errno))))")
      }
      if flock(fd, LOCK_EX | LOCK_NB) != 0 {
        let code = errno
        close(fd)
        guard code == EWOULDBLOCK else {
          throw TrainingError("cannot lock \(subject): flock on \(path) failed (\(String(cString: strerror(code))))")
        }
        let holder = Self.holder(path).map { "process \($0)" } ?? "another process"
        throw TrainingError("\(subject) is in use by \(holder) (lock file \(path)); wait for it to finish or stop it first")
      }
      // The file may have been removed (released) between open and flock: then lock the new one instead.
      var opened = stat(), named = stat()
      guard fstat(fd, &opened) == 0, stat(path, &named) == 0, opened.st_ino == named.st_ino, opened.st_dev == named.st_dev else {
        close(fd)
        continue
      }
      self.fd = fd
      break
    }
    let previous = Self.readPID(fd)
    let me = getpid()
    if let previous, previous != me {
      tookOverFrom = previous
      let state = kill(previous, 0) == 0 ? "which no longer holds it" : "which is no longer running"
      notice("notice: taking over the lock of \(subject) left by process \(previous), \(state) (\(path))")
    }
    let text = Array("\(me)\n".utf8)
    guard ftruncate(fd, 0) == 0, pwrite(fd, text, text.count, 0) == text.count else {
      let reason = String(cString: strerror(errno))
      release()
      throw TrainingError("cannot lock \(subject): cannot write \(path) (\(reason))")
    }
  }

  /// Removes the lock file (and the directories it created, when empty) and ends the claim (idempotent).
  public func release() {
    guard fd >= 0 else { return }
    unlink(url.path)
    close(fd)
    fd = -1
    for directory in created {
      guard rmdir(directory.path) == 0 else { break }  // not empty: keep it and its parents
    }
    created = []
  }

  deinit { release() }

  /// The pid written in the lock file at `path` (retrying briefly while its new holder is writing it).
  static func holder(_ path: String) -> Int32? {
    for _ in 0..<50 {
      let fd = open(path, O_RDONLY | O_CLOEXEC)
      if fd >= 0 {
        defer { close(fd) }
        if let pid = readPID(fd) { return pid }
      }
      usleep(2_000)
    }
    return nil
  }

  /// The pid at the start of an open lock file, if it holds one.
  static func readPID(_ fd: Int32) -> Int32? {
    var buffer = [UInt8](repeating: 0, count: 32)
    let n = pread(fd, &buffer, buffer.count, 0)
    guard n > 0 else { return nil }
    let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return Int32(text).flatMap { $0 > 0 ? $0 : nil }
  }
}
