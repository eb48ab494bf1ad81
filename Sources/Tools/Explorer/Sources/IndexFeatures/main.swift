import ArgumentParser
import FeatureIndexStore
import Experiments
import Foundation
import SAE
import Training

/// `index-features`: the feature index of a sparsified checkpoint (statistics, histograms, top contexts and logit
/// effects of every feature of every SAE) in a SQLite database beside the checkpoint.
struct IndexFeatures: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "index-features",
    abstract: "Index every feature of every SAE of a sparsified checkpoint into a SQLite database for `explore`.",
    discussion: """
      Runs the model over the split (rows of the model's block size; clean activations) and records per feature: \
      activation frequency, mean and max magnitude, a magnitude histogram, the top activating contexts (a token \
      window around each maximum with the feature's magnitude at every token) and the decoder direction's logit \
      effect through the unembedding (top promoted and suppressed tokens). Dead features (never active) are \
      listed as such. The database is written atomically (a temporary file renamed into place) and locked while \
      it is built: a second index-features on the same output refuses.
      """)

  @Option(help: ArgumentHelp("Sparsified checkpoint directory (model.json, sae.json and their safetensors).", valueName: "dir"))
  var checkpoint: String

  @Option(help: ArgumentHelp("Directory holding the tokenised dataset (val_*.npy, train_*.npy).", valueName: "dir"))
  var dataDir: String = "data/shakespeare"

  @Option(help: "Split to index: val or train.")
  var split: String = "val"

  @Option(help: ArgumentHelp("Output database (default: <checkpoint>/feature-index.sqlite).", valueName: "file"))
  var output: String?

  @Option(help: "Rows of the block size per forward pass.")
  var batchRows: Int = 32

  @Option(help: "Top activating contexts kept per feature.")
  var contexts: Int = 20

  @Flag(help: "Print one JSON object with the results on stdout; logs and progress go to stderr.")
  var json = false

  func run() throws {
    do {
      try index()
    } catch let e as ExplorerError {
      throw e
    } catch {
      throw ExplorerError("\(error)")
    }
  }

  func index() throws {
    guard let dataSplit = DataSplit(rawValue: split) else { throw ExplorerError("--split must be val or train, got '\(split)'") }
    guard batchRows > 0 else { throw ExplorerError("--batch-rows must be positive, got \(batchRows)") }
    guard contexts >= 1 && contexts <= 1000 else { throw ExplorerError("--contexts must be within 1...1000, got \(contexts)") }
    let start = Date()
    let dir = URL(fileURLWithPath: checkpoint)
    guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("sae.json").path) else {
      throw ExplorerError("\(dir.path) is not a sparsified checkpoint (no sae.json)")
    }
    let model = try SparsifiedGPT.load(from: dir)
    let dataURL = URL(fileURLWithPath: dataDir)
    let shards = try TokenShards.list(in: dataURL, split: dataSplit)
    guard !shards.isEmpty else { throw ExplorerError("no \(split) shards in \(dataURL.path) (expected \(split)_*.npy)") }
    var stream: [Int32] = []
    for shard in shards { stream += try TokenShards.load(shard) }
    guard !stream.isEmpty else { throw ExplorerError("the \(split) split in \(dataURL.path) holds no tokens") }
    if let bad = stream.first(where: { $0 < 0 || Int($0) >= model.gpt.config.vocabSize }) {
      throw ExplorerError("token \(bad) in \(dataURL.path) is outside the model's vocabulary 0..<\(model.gpt.config.vocabSize)")
    }
    let out = output.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent(FeatureIndexDatabase.defaultFileName)
    let lock = try DirectoryLock(lockFile: DirectoryLock.url(forFile: out), subject: "feature index \(out.path)")
    defer { lock.release() }
    var settings = FeatureIndexSettings()
    settings.topContexts = contexts
    let builder = FeatureIndexBuilder(model: model, settings: settings)
    let rowLength = model.gpt.config.blockSize
    Terminal.line("index-features: \(dir.path), \(model.keys.count) SAEs, \(stream.count) \(split) tokens → \(out.path)")
    try builder.add(stream: stream, rowLength: rowLength, batchRows: batchRows) { done in
      let elapsed = Date().timeIntervalSince(start)
      Terminal.progress("index-features: tokens \(done)/\(stream.count) | \(Terminal.duration(elapsed)) | ETA \(Terminal.duration(elapsed / Double(done) * Double(stream.count - done)))")
    }
    var summaries: [SAEKey: [FeatureSummary]] = [:]
    for (i, key) in model.keys.enumerated() {
      Terminal.progress("index-features: summarising SAE \(key) (\(i + 1)/\(model.keys.count))")
      summaries[key] = try builder.summaries(for: key)
    }
    let seconds = Date().timeIntervalSince(start)
    let info = FeatureIndexInfo(checkpoint: dir.path, dataDirectory: dataURL.path, split: split, tokens: stream.count,
                                rowLength: rowLength, settings: settings,
                                created: ISO8601DateFormatter().string(from: Date()), seconds: seconds)
    try FeatureIndexDatabase.write(info: info, keys: model.keys, summaries: summaries, to: out)
    Terminal.clearProgress()
    let total = Date().timeIntervalSince(start)
    let dead = model.keys.map { key in (key, summaries[key]!.filter(\.isDead).map(\.feature)) }
    Terminal.line("index-features: \(stream.count) tokens, \(model.keys.count) SAEs in \(String(format: "%.1f", total)) s → \(out.path)")
    if json {
      let object: [String: Any] = [
        "output": out.path, "tokens": stream.count, "seconds": total,
        "saes": dead.map { ["key": $0.0.description, "features": summaries[$0.0]!.count, "dead": $0.1.count] },
      ]
      let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
      FileHandle.standardOutput.write(data + Data("\n".utf8))
    } else {
      for (key, features) in dead {
        print("\(key): \(summaries[key]!.count) features, \(features.count) dead" + (features.isEmpty ? "" : ": " + features.map(String.init).joined(separator: ", ")))
      }
    }
  }
}

IndexFeatures.main()
