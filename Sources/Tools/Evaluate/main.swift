import ArgumentParser
import CommandSupport
import Foundation
import GPT
import SAE
import Training

struct Evaluate: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Evaluate a GPT or sparsified-GPT checkpoint on a data split over a fixed set of batches.",
    discussion: """
      The loader is reset first, so every run sees the same batches (the reference's evaluation). For a \
      checkpoint with sae.json the report adds, per SAE key, L0, the SAE's loss (sae_loss: its loss terms \
      with sparsity coefficient 0, which a checkpoint does not store, i.e. reconstruction + aux) and its \
      reconstruction loss alone, stream L1, the CE-loss \
      increase from patching (per SAE, or per pair keyed by the pair's input-side key for JSAE and FF-block \
      models; JSAE models also report jacobian_l1), the compound CE-loss increase with every SAE patched, and \
      the fraction of each SAE's features that never fired on the evaluated tokens (dead_fraction).
      """)

  @Option(help: ArgumentHelp("Checkpoint directory (model.json + model.safetensors, and sae.json + sae.*.safetensors for SAEs).", valueName: "dir"))
  var checkpoint: String

  @Option(help: "Split to evaluate: train or val.")
  var split: DataSplit = .val

  @Option(help: "Sequences per batch.")
  var batchSize: Int = 32

  @Option(help: "Number of batches averaged.")
  var batches: Int = 10

  @OptionGroup var common: CommonOptions

  func run() throws {
    MachineInfo.noteOpenBLASKernels()
    let s = split
    guard batchSize > 0, batches > 0 else { throw ToolError("--batch-size and --batches must be positive") }
    let dir = URL(fileURLWithPath: checkpoint)
    let dataDir = URL(fileURLWithPath: common.dataDir ?? "data/shakespeare")
    if FileManager.default.fileExists(atPath: dir.appendingPathComponent("sae.json").path) {
      try evaluateSparsified(dir, dataDir: dataDir, split: s)
      return
    }
    let model = try GPTCheckpoint.load(from: dir)
    var loader = try TokenDataLoader(directory: dataDir, split: s, batchSize: batchSize, sequenceLength: model.config.blockSize)
    let loss = try GPTEvaluation.meanLoss(model: model, loader: &loader, batches: batches)
    guard loss.isFinite else {
      loader.reset()
      let place = try NonFinite.locate(in: model, tokens: loader.nextBatch().0).map { " (first non-finite: \($0))" } ?? ""
      throw ToolError("evaluation of \(dir.path) met a non-finite value: the CE loss is \(loss)\(place)")
    }
    if common.json {
      try printJSONObject(["ce_loss": Double(loss)])
    } else {
      print(String(format: "ce_loss %.6f (%@ split, %d batches of %d × %d tokens)", loss, split.rawValue, batches, batchSize, model.config.blockSize))
    }
  }

  func evaluateSparsified(_ dir: URL, dataDir: URL, split: DataSplit) throws {
    let model = try SparsifiedGPT.load(from: dir)
    var loader = try TokenDataLoader(directory: dataDir, split: split, batchSize: batchSize, sequenceLength: model.gpt.config.blockSize)
    let m = try SparsifiedEvaluation.evaluate(model, loader: &loader, batches: batches)
    if let problem = m.firstNonFinite(keys: model.keys) {
      throw ToolError("evaluation of \(dir.path) met a non-finite value: \(problem)")
    }
    var activity = FeatureActivity()
    loader.reset()
    for _ in 0..<batches { try activity.add(model, tokens: try loader.nextBatch().x) }
    var dead: [String: Double] = [:]
    for key in model.keys { dead[key.description] = activity.deadFraction(key) }
    func keyed(_ d: [SAEKey: Float]) -> [String: Double] { Dictionary(uniqueKeysWithValues: d.map { ($0.key.description, Double($0.value)) }) }
    if common.json {
      var object: [String: Any] = ["ce_loss": Double(m.ceLoss), "l0": keyed(m.l0), "ce_loss_increase": keyed(m.ceIncrease),
                                   "compound_ce_loss_increase": Double(m.compoundCEIncrease), "sae_loss": keyed(m.saeLoss),
                                   "reconstruction_loss": keyed(m.reconstruct), "stream_l1": keyed(m.streamL1),
                                   "dead_fraction": dead, "tokens": activity.tokens]
      if !m.jacobianL1.isEmpty { object["jacobian_l1"] = keyed(m.jacobianL1) }
      try printJSONObject(object)
      return
    }
    print(String(format: "ce_loss %.6f | compound_ce_loss_increase %.6f (%@ split, %d batches of %d)", m.ceLoss,
                 m.compoundCEIncrease, split.rawValue, batches, batchSize))
    for key in model.keys {
      var line = "\(key): l0 \(String(format: "%.4f", m.l0[key]!)) | sae_loss \(String(format: "%.4f", m.saeLoss[key]!))"
        + " | reconstruction_loss \(String(format: "%.4f", m.reconstruct[key]!))"
      if let inc = m.ceIncrease[key] { line += " | ce_loss_increase \(String(format: "%.6f", inc))" }
      if let j = m.jacobianL1[key] { line += " | jacobian_l1 \(String(format: "%.4f", j))" }
      if let d = dead[key.description] { line += " | dead_fraction \(String(format: "%.4f", d))" }
      print(line)
    }
  }
}

Evaluate.main()
