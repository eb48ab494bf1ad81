import ArgumentParser
import CommandSupport
import Experiments
import Foundation
import SAE
import Training

struct Attribute: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attribute",
    abstract: "Attribute the connections between consecutive SAEs of a checkpoint and write them to a safetensors file.",
    discussion: """
      Paths follow the checkpoint's SAE keys: transformer blocks (i_act → i+1_act), FF blocks (i_residmid → \
      i_residpost) or FF layers (i_mlpin → i_mlpout). The val split is read from the start (loader reset) for \
      --batches batches of --batch-size sequences of the model's block size. The file holds one [F_up, F_down] \
      matrix per pair (keys i-(i+1), MLP_BLOCK_i or MLP_i) and the reference's metadata. Paper settings: \
      --method ig --steps 4 --batches 24 --batch-size 24. The file is written atomically; .<file>.lock beside it \
      (holding the pid) keeps a second process from writing the same file; SIGINT or SIGTERM stops after the \
      current batch without writing (exit status 130 or 143). Under `mpirun -np N` (tools built with \
      `--traits MPI`) batch b is computed by rank b mod N and rank 0 adds them up in batch order and writes the \
      file, the same bytes as one process with as many threads per process.
      """)

  @Option(help: ArgumentHelp("SAE checkpoint directory (or its name under --checkpoints-dir).", valueName: "dir"))
  var checkpoint: String

  @Option(help: "Attribution method: ig (integrated gradients) or ablation (manual ablation; also 'ma').")
  var method: AttributionMethod = .integratedGradients

  @Option(help: "Points on the integration path (ig).")
  var steps: Int = 4

  @Option(help: "Batches of the val split.")
  var batches: Int = 24

  @Option(help: "Sequences per batch.")
  var batchSize: Int = 24

  @Option(help: ArgumentHelp("Upstream layers to attribute, comma-separated (default: every pair).", valueName: "list"))
  var layers: String?

  @Option(help: "Magnitudes above this count as active (ablation).")
  var epsilon: Float = 0

  @Option(help: ArgumentHelp("Output file (.safetensors), written atomically.", valueName: "file"))
  var output: String

  @OptionGroup var common: CommonOptions

  func run() throws {
    MachineInfo.noteOpenBLASKernels()
    try withStopOnSignal(stopping: "stopping after the current batch, writing nothing") {
      do {
        try withProcesses(tool: "attribute") { try attribute($0) }
      } catch let e as ExperimentError {
        throw ToolError(e.description)
      } catch let e as SAEError {
        throw ToolError(e.description)
      }
    }
  }

  func attribute(_ parallel: DataParallel) throws {
    let chosen = method
    guard batches > 0, batchSize > 0 else { throw ToolError("--batches and --batch-size must be positive") }
    guard steps >= 1 else { throw ToolError("--steps must be at least 1, got \(steps)") }
    guard epsilon.isFinite && epsilon >= 0 else { throw ToolError("--epsilon must be a finite value ≥ 0, got \(epsilon)") }
    guard output.hasSuffix(".safetensors") else { throw ToolError("--output must name a .safetensors file, got '\(output)'") }
    let layerList = try flag("--layers") { try layers.map(ExperimentInputs.layers) }
    let dir = try ExperimentInputs.checkpoint(checkpoint, checkpointsDirectory: common.checkpointsURL)
    let url = URL(fileURLWithPath: output)
    // Rank 0 (the only writer) claims the output; the others wait until it has.
    var lock: DirectoryLock?
    defer { lock?.release() }
    _ = try parallel.fromWriter { () throws -> Bool in
      lock = try DirectoryLock(lockFile: DirectoryLock.url(forFile: url), subject: "output \(url.path)")
      return true
    }
    let model = try SparsifiedGPT.load(from: dir)
    let dataDir = URL(fileURLWithPath: common.dataDir ?? "data/shakespeare")
    var loader = try TokenDataLoader(directory: dataDir, split: .val, batchSize: batchSize,
                                     sequenceLength: model.gpt.config.blockSize)
    let attributor: any PairAttributor = chosen == .integratedGradients
      ? try IntegratedGradientsAttributor(model: model, layers: layerList, steps: steps)
      : try ManualAblationAttributor(model: model, layers: layerList, epsilon: epsilon)
    let keys = attributor.pairs.map(\.attributionKey)
    if parallel.isWriter { Terminal.line("attribute: \(chosen.rawValue) on \(dir.path), pairs \(keys.joined(separator: ", ")), "
                  + "\(batches) batches of \(batchSize) × \(model.gpt.config.blockSize) tokens"
                  + (parallel.worldSize > 1 ? " over \(parallel.worldSize) ranks" : "")) }
    let start = Date()
    let result = try attributor.run(loader: &loader, batches: batches, parallel: parallel) { done in
      try stopIfRequested("attribute stopped after batch \(done) of \(batches); \(url.path) was not written")
      let elapsed = Date().timeIntervalSince(start)
      Terminal.progress("batch \(done)/\(batches) | \(Terminal.duration(elapsed)) | ETA \(Terminal.duration(elapsed / Double(done) * Double(batches - done)))")
    }
    Terminal.clearProgress()
    guard let result else { return }
    let metadata = AttributionMetadata(modelName: ExperimentInputs.modelName(dir), method: chosen, batchSize: batchSize,
                                       numBatches: batches, steps: chosen == .integratedGradients ? steps : nil,
                                       epsilon: chosen == .manualAblation ? Double(epsilon) : nil)
    try AttributionFile.write(result, metadata: metadata, to: url)
    let seconds = Date().timeIntervalSince(start)
    Terminal.line("attribute: wrote \(url.path) (\(keys.count) pairs) in \(Terminal.duration(seconds))")
    if common.json {
      try printJSONObject(["output": url.path, "keys": keys, "method": chosen.rawValue, "seconds": seconds,
                       "batches": batches, "batch_size": batchSize, "steps": chosen == .integratedGradients ? steps : 0])
    }
  }
}

extension AttributionMethod: ExpressibleByArgument {
  public init?(argument: String) {
    switch argument {
    case "ig": self = .integratedGradients
    case "ablation", "ma": self = .manualAblation
    default: return nil
    }
  }

  public static var allValueStrings: [String] { ["ig", "ablation"] }
  public var defaultValueDescription: String { self == .integratedGradients ? "ig" : "ablation" }
}

Attribute.main()
