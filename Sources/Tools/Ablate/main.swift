import ArgumentParser
import Autograd
import CommandSupport
import Experiments
import Foundation
import SAE
import Tensor
import Training

struct Ablate: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ablate",
    abstract: "Edge-ablation sweeps (SCALAR): prune the connections between SAE pairs to their top N edges and measure the KL divergence of the next-token predictions.",
    discussion: """
      One process runs every layer and every N; under `mpirun -np N` (tools built with `--traits MPI`) the \
      points are dealt round-robin to the ranks, each rank writes the files of its points into the output \
      directory (which every rank must see, e.g. a shared file system), and rank 0 prints the results, which \
      equal one process's. Prompts are the first --prompts rows of the val split cut into \
      consecutive rows of --sequence-length tokens. Edges are ranked by the attribution file (positive values \
      descending, zeros in seeded random order, then negatives) or, with --selection random, in a seeded random \
      order. For each (layer, N) the output directory receives {placement}_{variant}_{selection}_{layer}_{N}\
      .safetensors (feature_magnitudes, logits, kl_divergence vs the unpruned circuit, kl_divergence_full_model; \
      compact unless --full-tensors) and its .metadata.json sidecar, each written atomically, the sidecar last. \
      --resume keeps the points whose file and sidecar are complete and were computed with the same settings \
      (the sidecar records the file's size and digest) and computes the rest. The output directory is locked \
      (.lock holding the pid) while the sweep lasts; SIGINT or SIGTERM stops after the current point (exit \
      status 130 or 143). Paper settings: --edges default --prompts 50 --seed 125.
      """)

  @Option(help: ArgumentHelp("SAE checkpoint directory (or its name under --checkpoints-dir).", valueName: "dir"))
  var checkpoint: String

  @Option(help: ArgumentHelp("Attribution file written by `attribute` or the reference (needed for --selection gradient).", valueName: "file"))
  var attributions: String?

  @Option(help: ArgumentHelp("Upstream layers, comma-separated (default: every pair).", valueName: "list"))
  var layers: String?

  @Option(help: ArgumentHelp("Edge counts: 'default' (the paper's 35) or a comma-separated list; counts above F_up·F_down are clamped.", valueName: "list"))
  var edges: String = "default"

  @Option(help: "Number of prompts (rows of the val split).")
  var prompts: Int = 50

  @Option(help: "Tokens per prompt.")
  var sequenceLength: Int = 128

  @Option(help: "Edge order: gradient (by attribution) or random.")
  var selection: EdgeSelection = .gradient

  @Option(help: "Seed of the random orders.")
  var seed: UInt64 = 125

  @Option(help: ArgumentHelp("Variant label in file names (default: the checkpoint's sae_variant with '-' for '_').", valueName: "name"))
  var label: String?

  @Flag(help: "Store the reference's dense feature_magnitudes [P, T, F] and logits [P, T, V] instead of the compact layout.")
  var fullTensors = false

  @Option(help: ArgumentHelp("Output directory.", valueName: "dir"))
  var out: String

  @Flag(help: "Keep the points already complete in the output directory with these settings; compute the rest.")
  var resume = false

  @OptionGroup var common: CommonOptions

  func run() throws {
    MachineInfo.noteOpenBLASKernels()
    try withStopOnSignal(stopping: "stopping after the current point") {
      do {
        try withProcesses(tool: "ablate") { try ablate($0) }
      } catch let e as ExperimentError {
        throw ToolError(e.description)
      } catch let e as SAEError {
        throw ToolError(e.description)
      }
    }
  }

  func ablate(_ parallel: DataParallel) throws {
    let edgeSelection = selection
    guard prompts > 0 else { throw ToolError("--prompts must be positive, got \(prompts)") }
    guard sequenceLength > 0 else { throw ToolError("--sequence-length must be positive, got \(sequenceLength)") }
    let requested = try flag("--edges") { try EdgeCounts.parse(edges) }
    let layerList = try flag("--layers") { try layers.map(ExperimentInputs.layers) }
    if let label, label.isEmpty || label.contains("_") || label.contains("/") {
      throw ToolError("--label must be non-empty without '_' or '/', got '\(label)'")
    }
    let dir = try ExperimentInputs.checkpoint(checkpoint, checkpointsDirectory: common.checkpointsURL)
    var attributionFile: (url: URL, tensors: [String: Tensor])?
    if edgeSelection == .gradient {
      guard let attributions else { throw ToolError("--selection gradient needs --attributions FILE") }
      let url = URL(fileURLWithPath: attributions)
      attributionFile = (url, try AttributionFile.read(url).tensors)
    }
    let model = try SparsifiedGPT.load(from: dir)
    guard sequenceLength <= model.gpt.config.blockSize else {
      throw ToolError("--sequence-length \(sequenceLength) exceeds the model's block size \(model.gpt.config.blockSize)")
    }
    let available = try CircuitPair.layers(of: model)
    let chosen = layerList ?? available
    for l in chosen where !available.contains(l) {
      throw ToolError("layer \(l) has no SAE pair in this checkpoint (available: \(available.map(String.init).joined(separator: ", ")))")
    }
    let pairs = try chosen.map { try CircuitPair(model: model, layer: $0) }
    let dataDir = URL(fileURLWithPath: common.dataDir ?? "data/shakespeare")
    let tokens = try PromptRows.load(dataDirectory: dataDir, count: prompts, length: sequenceLength)
    // Rankings and counts first, so that bad input fails before any work.
    var plans: [(pair: CircuitPair, order: [Int32], counts: [Int])] = []
    for pair in pairs {
      let total = pair.upstream.featureCount * pair.downstream.featureCount
      let order: [Int32]
      if let file = attributionFile {
        let matrix = try AttributionFile.matrix(file.tensors, for: pair, source: file.url.path)
        order = try EdgeRanking.byAttribution(matrix, seed: seed)
      } else {
        order = EdgeRanking.random(upstream: pair.upstream.featureCount, downstream: pair.downstream.featureCount, seed: seed)
      }
      let counts = try EdgeCounts.resolve(requested, total: total)
      if !counts.clamped.isEmpty && parallel.isWriter {
        Terminal.line("ablate: warning: layer \(pair.layer) has \(total) edges; clamped \(counts.clamped.map(String.init).joined(separator: ", ")) to \(total)")
      }
      plans.append((pair, order, counts.counts))
    }
    let outDir = URL(fileURLWithPath: out)
    // Rank 0 claims and tidies the output directory for the whole job; the others wait until it has.
    var lock: DirectoryLock?
    defer { lock?.release() }
    _ = try parallel.fromWriter { () throws -> Bool in
      lock = try DirectoryLock(directory: outDir, subject: "output directory \(outDir.path)")
      let leftovers = AtomicFile.removeStaleTemporaries(in: outDir)
      if !leftovers.isEmpty {
        Terminal.line("notice: removed what interrupted writes left in \(outDir.path): \(leftovers.joined(separator: ", "))")
      }
      return true
    }
    let variant = label ?? model.config.saeVariant.rawValue.replacingOccurrences(of: "_", with: "-")
    let layout: AblationResultFile.Layout = fullTensors ? .full : .compact
    /// The stem and `experiment_params` of point (plan, N).
    func describe(_ plan: (pair: CircuitPair, order: [Int32], counts: [Int]), _ n: Int) -> (stem: String, params: AblationMetadata.ExperimentParams) {
      let pair = plan.pair
      let params = AblationMetadata.ExperimentParams(
        task: "magnitudes", ablator: "zero", placement: pair.placementLabel,
        edgeSelectionStrategy: edgeSelection.rawValue, numEdges: n,
        totalEdges: pair.upstream.featureCount * pair.downstream.featureCount, upstreamLayerIdx: pair.layer,
        upstreamKey: pair.upstreamKey.description, downstreamKey: pair.downstreamKey.description,
        attributionKey: pair.attributionKey, numPrompts: prompts, sequenceLength: sequenceLength, randomSeed: Int(seed),
        checkpoint: dir.path, dataset: dataDir.path, saeVariantLabel: variant, attributions: attributionFile?.url.path)
      let stem = AblationResultFile.stem(placement: pair.placementLabel, variant: variant, selection: edgeSelection,
                                         layer: pair.layer, edges: n)
      return (stem, params)
    }
    let modelConfig = AblationMetadata.ModelConfig(
      nFeatures: model.config.nFeatures, saeVariant: model.config.saeVariant.rawValue, topK: model.config.topK ?? [],
      saeKeys: model.config.saeKeys.map(\.description))
    // With --resume, the points whose results are complete are kept (and reported from their sidecars).
    var kept: [[Int: AblationResultFile.Sidecar]] = []
    for plan in plans {
      var finished: [Int: AblationResultFile.Sidecar] = [:]
      if resume {
        for n in plan.counts {
          let (stem, params) = describe(plan, n)
          finished[n] = AblationResultFile.finished(stem: stem, directory: outDir, parameters: params, layout: layout)
        }
      }
      kept.append(finished)
    }
    let start = Date()
    let totalPoints = plans.reduce(0) { $0 + $1.counts.count }
    let keptPoints = kept.reduce(0) { $0 + $1.count }
    var done = 0, computed = 0
    var results: [[String: Any]] = []
    func report(layer: Int, edges: Int, klFullModel: Float, klCircuit: Float) {
      var row: [String: Any] = ["layer": layer, "edges": edges]
      if let v = jsonNumber(klFullModel) { row["kl_full_model_mean"] = v }
      if let v = jsonNumber(klCircuit) { row["kl_full_circuit_mean"] = v }
      results.append(row)
    }
    if parallel.isWriter { Terminal.line("ablate: \(dir.path), layers \(chosen.map(String.init).joined(separator: ", ")), \(totalPoints) points"
                  + (keptPoints > 0 ? " (\(keptPoints) already complete)" : "") + ", "
                  + "\(prompts) prompts of \(sequenceLength) tokens, \(edgeSelection.rawValue) selection → \(outDir.path)"
                  + (parallel.worldSize > 1 ? ", over \(parallel.worldSize) ranks" : "")) }
    // Point i of the sweep (plans in order, counts ascending) is computed by rank i mod the world size.
    var pointIndex = 0
    var others: [Set<Int>] = []
    for plan in plans {
      var skip = Set<Int>()
      for n in plan.counts {
        if pointIndex % parallel.worldSize != parallel.rank { skip.insert(n) }
        pointIndex += 1
      }
      others.append(skip)
    }
    let cleanLogits = keptPoints == totalPoints ? nil : try withNoGrad { try model.gpt(tokens).value }
    for ((plan, finished), theirs) in zip(zip(plans, kept), others) {
      guard finished.count < plan.counts.count, let cleanLogits else {
        for n in plan.counts {
          let sidecar = finished[n]!
          report(layer: plan.pair.layer, edges: n, klFullModel: Float(sidecar.klFullModelMean!), klCircuit: Float(sidecar.klCircuitMean!))
          done += 1
        }
        continue
      }
      let ablation = try PairAblation(pair: plan.pair, prompts: tokens, cleanLogits: cleanLogits)
      var reported = 0
      /// Reports the kept points before count `n` (in ascending order, as the sweep runs).
      func reportKept(below n: Int) {
        while reported < plan.counts.count && plan.counts[reported] < n {
          let count = plan.counts[reported]
          if let sidecar = finished[count] {
            report(layer: plan.pair.layer, edges: count, klFullModel: Float(sidecar.klFullModelMean!), klCircuit: Float(sidecar.klCircuitMean!))
            done += 1
          }
          reported += 1
        }
      }
      try ablation.sweep(order: plan.order, counts: plan.counts, skipping: Set(finished.keys).union(theirs)) { point in
        reportKept(below: point.edges)
        reported += 1
        let (stem, params) = describe(plan, point.edges)
        try AblationResultFile.write(point, stem: stem, directory: outDir, layout: layout,
                                     metadata: AblationMetadata(experimentParams: params, modelConfig: modelConfig,
                                                                timestamp: ISO8601DateFormatter().string(from: Date())))
        done += 1
        computed += 1
        let elapsed = Date().timeIntervalSince(start)
        Terminal.progress("layer \(point.layer) | N \(point.edges) | point \(done)/\(totalPoints) | KL \(String(format: "%.4f", point.klFullModelMean)) | "
                          + "\(Terminal.duration(elapsed)) | ETA \(Terminal.duration(elapsed / Double(computed) * Double(totalPoints - done)))")
        report(layer: point.layer, edges: point.edges, klFullModel: point.klFullModelMean, klCircuit: point.klCircuitMean)
        try stopIfRequested("ablate stopped after \(done) of \(totalPoints) points; the finished ones are in \(outDir.path) (continue with --resume)")
      }
      reportKept(below: Int.max)
    }
    Terminal.clearProgress()
    if parallel.worldSize > 1 {
      // Every rank's rows, in sweep order (this also waits until every rank has written its files).
      struct Row: Codable { var layer: Int, edges: Int, full: Double?, circuit: Double? }
      let mine = try JSONEncoder().encode(results.map {
        Row(layer: $0["layer"] as! Int, edges: $0["edges"] as! Int, full: $0["kl_full_model_mean"] as? Double,
            circuit: $0["kl_full_circuit_mean"] as? Double)
      })
      var byPoint: [String: Row] = [:]
      for data in try parallel.communicator.allgather(mine) {
        for row in try JSONDecoder().decode([Row].self, from: data) { byPoint["\(row.layer) \(row.edges)"] = row }
      }
      results = []
      for plan in plans {
        for n in plan.counts {
          guard let row = byPoint["\(plan.pair.layer) \(n)"] else { throw ToolError("no rank reported layer \(plan.pair.layer), N \(n)") }
          var out: [String: Any] = ["layer": row.layer, "edges": row.edges]
          if let v = row.full { out["kl_full_model_mean"] = v }
          if let v = row.circuit { out["kl_full_circuit_mean"] = v }
          results.append(out)
        }
      }
      done = results.count
      guard parallel.isWriter else { return }
    }
    let seconds = Date().timeIntervalSince(start)
    Terminal.line("ablate: \(totalPoints) points in \(Terminal.duration(seconds)) → \(outDir.path)")
    if common.json {
      try printJSONObject(["results": results])
    } else {
      for r in results {
        print(String(format: "layer %d | edges %d | kl_full_model_mean %.6f | kl_full_circuit_mean %.6f",
                     r["layer"] as! Int, r["edges"] as! Int, (r["kl_full_model_mean"] as? Double) ?? .nan,
                     (r["kl_full_circuit_mean"] as? Double) ?? .nan))
      }
    }
  }
}

extension EdgeSelection: ExpressibleByArgument {}

Ablate.main()
