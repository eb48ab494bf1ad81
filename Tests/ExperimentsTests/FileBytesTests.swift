import Autograd
import Foundation
import SAE
import Tensor
import Testing
import TestSupport
import Training
@testable import Experiments

/// The exact bytes of the attribution and ablation files written on the reference fixtures, pinned by
/// SHA-256 digests recorded with the code before the GPT/SAE/Experiments seam was refactored (issue 17; commit 39dbc11): a
/// refactor of the path between SAE pairs must leave every written byte as it was. The integrated-gradient
/// ("ig/") digests were re-recorded when the attributor's accumulation changed (per-batch fold of the Gram
/// matrices into Float sums, issue 16: relative difference 8e-8 to the previous files); every other digest is
/// still the one recorded at 39dbc11.
///
/// Per fixture: integrated-gradient and manual-ablation attribution files (one batch of 2 val sequences and
/// 2 steps for IG, of 1 sequence for manual ablation) and the edge-ablation files of the golden layer (the golden IG attributions' ranking, the
/// first 4 val rows of 128 tokens, N = 1, 16, 256, 2048 and every edge), each point in both layouts with its
/// metadata sidecar (fixed timestamp, paths and time, so that only computed values can differ). Each entry
/// is the digest of the sorted list of (file name, SHA-256 of its bytes); see `digest(of:)` for the two
/// sidecar fields that describe the result file's bytes.
///
/// Float results depend on the build (debug builds take the kernels' scalar loops, optimised builds their
/// SIMD paths; the digests are pinned for the optimised build, which users run, and the debug test run skips
/// this suite), on the number of cores work is split over (partial sums) and on the sgemm kernel OpenBLAS
/// picks for the CPU (its core name: "Zen" on Zen 1–3, "Cooperlake" on Zen 4, "SkylakeX" selected by
/// `OpenBLASCoreSelection` on an Emerald Rapids Xeon that OpenBLAS 0.3.21 does not know, "Prescott" (the generic
/// kernels it falls back to there, kept with GPTCIRCUITS_KEEP_OPENBLAS_CORE) round their products differently), so the digests are recorded per configuration, thread count and OpenBLAS core. On a core
/// with no recorded digests the test prints the digests to record and checks only that the files are written.
@Suite(.serialized, .enabled(if: BuildConfiguration.optimised, "the bytes are pinned for the optimised build users run (the README's second test command)"))
struct FileBytesTests {
  static let names = ["fx_trans_block_topk", "fx_ff_layer_jsae", "fx_ff_block_staircase"]

  static let configuration = BuildConfiguration.name

  /// "{configuration}-{threads}-{OpenBLAS core}" → "{kind}/{fixture}" → digest.
  static let expected: [String: [String: String]] = [
    "release-1-SkylakeX": [
      "ablation/fx_ff_block_staircase": "7221e998c65493d70bbf6afff115b05206d93d932e97acec7572be22edc79fb3",
      "ablation/fx_ff_layer_jsae": "5c75c2581479629319dee256648b8c368e3bcebc4197f594ae1424739c1b9d7f",
      "ablation/fx_trans_block_topk": "2f0439fef8f2ed32042984d9488975710006e4fa0af2f73e283a95bb3c371a8c",
      "ig/fx_ff_block_staircase": "edd29cb133ad7564918537e3ab2bfec978a3e016339681f6565bd3aba7c23885",
      "ig/fx_ff_layer_jsae": "88bc0f0d386deca7078517e07884f0bf8681e164a349bee17ba7ee13186de6b2",
      "ig/fx_trans_block_topk": "d4aa40a41e61299a78d99fd6cf1944a12963a91b4db697d6c4ae5d512ecee8b0",
      "ma/fx_ff_block_staircase": "582e6353a0723894e78d63797b64d5ddc320288ca870cc19efa246f2c3937f45",
      "ma/fx_ff_layer_jsae": "0910be9f5fa90719cd30c1f351927f9422428905afcff248ce18e3258259908d",
      "ma/fx_trans_block_topk": "32a598accb83e32e576c1be51dbd2d1e38cf12f4e09445397775cd9512e57385",
    ],
    "release-2-SkylakeX": [
      "ablation/fx_ff_block_staircase": "7221e998c65493d70bbf6afff115b05206d93d932e97acec7572be22edc79fb3",
      "ablation/fx_ff_layer_jsae": "5c75c2581479629319dee256648b8c368e3bcebc4197f594ae1424739c1b9d7f",
      "ablation/fx_trans_block_topk": "2f0439fef8f2ed32042984d9488975710006e4fa0af2f73e283a95bb3c371a8c",
      "ig/fx_ff_block_staircase": "51fcc32f8a3723eeec4290a1d2ea60a45dc1dbb8fe05712d0266f9cfab47d1ca",
      "ig/fx_ff_layer_jsae": "e19e3229b6fd73060a5dc2745077a4b919599324f9ea8e3ffd3520ce58062b35",
      "ig/fx_trans_block_topk": "d4aa40a41e61299a78d99fd6cf1944a12963a91b4db697d6c4ae5d512ecee8b0",
      "ma/fx_ff_block_staircase": "582e6353a0723894e78d63797b64d5ddc320288ca870cc19efa246f2c3937f45",
      "ma/fx_ff_layer_jsae": "0910be9f5fa90719cd30c1f351927f9422428905afcff248ce18e3258259908d",
      "ma/fx_trans_block_topk": "32a598accb83e32e576c1be51dbd2d1e38cf12f4e09445397775cd9512e57385",
    ],
    "release-1-Prescott": [
      "ablation/fx_ff_block_staircase": "9eecc0efc7fdf2038e09fff2afe32a09eb1519a13f32fdae65a92538f820b489",
      "ablation/fx_ff_layer_jsae": "177b17c6195a02c60852dc2bbb61df094e408dec8fedc7387d70062599c636fb",
      "ablation/fx_trans_block_topk": "ab908f2430a60e3ccc446178e84decf3e1d4b5cf905a11b27fa7895d0e0af1b5",
      "ig/fx_ff_block_staircase": "eb33afeab40d43c10134da3251ebb0816a7bd8679ff9e862102e37910ceb75ab",
      "ig/fx_ff_layer_jsae": "2c231282c0f1884a4f09601fe82deb62a647edd3f72e5a6f72333f0ac4eb3320",
      "ig/fx_trans_block_topk": "80dc1a6a10eb0a3f224c364d8a8904ad4d54b3cfc95eb3acd1c5e6a1c9445495",
      "ma/fx_ff_block_staircase": "63e0f5990cc5a22b59c8a91d4aa3ecddf5743cbf42b582ac6ceff1a93af9c420",
      "ma/fx_ff_layer_jsae": "3e42b708a060f3abcb83929fd391e3b370783326d089c9811392e66c5866e036",
      "ma/fx_trans_block_topk": "6cd1d6f0339f1b3a3a58fe96230ad27075bf4eadb56b968f3f972a870673a57f",
    ],
    "release-2-Prescott": [
      "ablation/fx_ff_block_staircase": "9eecc0efc7fdf2038e09fff2afe32a09eb1519a13f32fdae65a92538f820b489",
      "ablation/fx_ff_layer_jsae": "177b17c6195a02c60852dc2bbb61df094e408dec8fedc7387d70062599c636fb",
      "ablation/fx_trans_block_topk": "ab908f2430a60e3ccc446178e84decf3e1d4b5cf905a11b27fa7895d0e0af1b5",
      "ig/fx_ff_block_staircase": "d68e5b9f928247f181349ff3ef759c75592ec928c97a502d80f91d32d160b0db",
      "ig/fx_ff_layer_jsae": "1923d7b39da16f604c6c949323decdee6b526378f89f6e70b2f68b08bf16f76f",
      "ig/fx_trans_block_topk": "80dc1a6a10eb0a3f224c364d8a8904ad4d54b3cfc95eb3acd1c5e6a1c9445495",
      "ma/fx_ff_block_staircase": "63e0f5990cc5a22b59c8a91d4aa3ecddf5743cbf42b582ac6ceff1a93af9c420",
      "ma/fx_ff_layer_jsae": "3e42b708a060f3abcb83929fd391e3b370783326d089c9811392e66c5866e036",
      "ma/fx_trans_block_topk": "6cd1d6f0339f1b3a3a58fe96230ad27075bf4eadb56b968f3f972a870673a57f",
    ],
    "release-1-Zen": [
      "ablation/fx_ff_block_staircase": "696e9441dc8649217be7dcec9d385b40fb0c9445d804cca61f0ccd8fad19d34a",
      "ablation/fx_ff_layer_jsae": "c344dca21834c7f11d8d23daef7799e4eeebe8d7b5893064f792473f79de068c",
      "ablation/fx_trans_block_topk": "72a1f7ac374943e707baae1d755c063fdd301f62eda630d77dd804f14ad700ba",
      "ig/fx_ff_block_staircase": "b71e50e6e21850701c2204b60a0f3f8af9663044a2f9851eaaa94ea3dd6e6269",
      "ig/fx_ff_layer_jsae": "827e3683a3c8b3e01ecce79d3b26c70019306e67fd2b8e72700dec7ea62feca7",
      "ig/fx_trans_block_topk": "2395bb4d831a74f2221a1ed4cb810fd8a4ef23e3107a2d3a5f5600e8993505fb",
      "ma/fx_ff_block_staircase": "b2eec9f2296cab65d06b712a75ea9091bf2e6aaa457885f09d47e2d6098c4d77",
      "ma/fx_ff_layer_jsae": "93377d2c24845be75b680a99d82be894cae229f60f62c7b3d3562ff7d76b85e4",
      "ma/fx_trans_block_topk": "a66441945d044c0920c6ca29785732c446ff8ab8b14e7dbc6abadfe7f182bf84",
    ],
    "release-2-Zen": [
      "ablation/fx_ff_block_staircase": "ce1101191a6f5e4eb4b134764a0e55a689f216614116b1b7f5af1bb21f335f12",
      "ablation/fx_ff_layer_jsae": "28386cf87e7879258c7ed4bb3ad048ef36fcd0f42621e6ef33e38c67c122507d",
      "ablation/fx_trans_block_topk": "5b82cf52184308f1610fbe2df5b7f814c2cd2c5b2f1982aeade342acef001b32",
      "ig/fx_ff_block_staircase": "c8be6d8f0dc4187e393e52da548dfa826531a00317b52743fef09fd6d1927211",
      "ig/fx_ff_layer_jsae": "f9738198ed63805eacec612047fa089bb0898a4f895ce254632977f25e74c586",
      "ig/fx_trans_block_topk": "de516cdc15e8a5e2c599fda4ede8c748bf28add99cd816890476fa817176c4ce",
      "ma/fx_ff_block_staircase": "d068749c31c5c922de061aea3645da2d9a723859a205081d04fd305cdf9e56da",
      "ma/fx_ff_layer_jsae": "99d2f3adaac4ae6bb39ac0cc7e45454ca8619e97e90061dec061d23e4db687ac",
      "ma/fx_trans_block_topk": "e80200921dae81a8403a87c371b3ba7247e520dfe8040c69c48b2f70e679e8ec",
    ],
    "release-1-Cooperlake": [
      "ablation/fx_ff_block_staircase": "93fc9e777d164d1790fa291d418ff373f333426244ab43fb6ff3d8c5167f3f4b",
      "ablation/fx_ff_layer_jsae": "5c75c2581479629319dee256648b8c368e3bcebc4197f594ae1424739c1b9d7f",
      "ablation/fx_trans_block_topk": "2f0439fef8f2ed32042984d9488975710006e4fa0af2f73e283a95bb3c371a8c",
      "ig/fx_ff_block_staircase": "edd29cb133ad7564918537e3ab2bfec978a3e016339681f6565bd3aba7c23885",
      "ig/fx_ff_layer_jsae": "88bc0f0d386deca7078517e07884f0bf8681e164a349bee17ba7ee13186de6b2",
      "ig/fx_trans_block_topk": "bce85ce7a7d31e2a4aab42b9a435044f6ade7b26446e1cfbe6bd430a3a2ce4a9",
      "ma/fx_ff_block_staircase": "582e6353a0723894e78d63797b64d5ddc320288ca870cc19efa246f2c3937f45",
      "ma/fx_ff_layer_jsae": "0910be9f5fa90719cd30c1f351927f9422428905afcff248ce18e3258259908d",
      "ma/fx_trans_block_topk": "32a598accb83e32e576c1be51dbd2d1e38cf12f4e09445397775cd9512e57385",
    ],
    "release-2-Cooperlake": [
      "ablation/fx_ff_block_staircase": "93fc9e777d164d1790fa291d418ff373f333426244ab43fb6ff3d8c5167f3f4b",
      "ablation/fx_ff_layer_jsae": "5c75c2581479629319dee256648b8c368e3bcebc4197f594ae1424739c1b9d7f",
      "ablation/fx_trans_block_topk": "2f0439fef8f2ed32042984d9488975710006e4fa0af2f73e283a95bb3c371a8c",
      "ig/fx_ff_block_staircase": "51fcc32f8a3723eeec4290a1d2ea60a45dc1dbb8fe05712d0266f9cfab47d1ca",
      "ig/fx_ff_layer_jsae": "e19e3229b6fd73060a5dc2745077a4b919599324f9ea8e3ffd3520ce58062b35",
      "ig/fx_trans_block_topk": "bce85ce7a7d31e2a4aab42b9a435044f6ade7b26446e1cfbe6bd430a3a2ce4a9",
      "ma/fx_ff_block_staircase": "582e6353a0723894e78d63797b64d5ddc320288ca870cc19efa246f2c3937f45",
      "ma/fx_ff_layer_jsae": "0910be9f5fa90719cd30c1f351927f9422428905afcff248ce18e3258259908d",
      "ma/fx_trans_block_topk": "32a598accb83e32e576c1be51dbd2d1e38cf12f4e09445397775cd9512e57385",
    ],
  ]

  static var setting: String { "\(configuration)-\(Parallel.threadCount)-\(BLAS.coreName)" }

  /// Checks `digest` against the recorded one; prints it either way so that a new setting can be recorded.
  static func check(_ entry: String, _ digest: String, sourceLocation: SourceLocation = #_sourceLocation) {
    print("file bytes \(setting) \"\(entry)\": \"\(digest)\",")
    guard let recorded = expected[setting] else {
      print("file bytes: no digests recorded for \(setting); \(entry) not checked (record the line above)")
      return
    }
    #expect(recorded[entry] == digest, "\(entry) (\(setting)): bytes changed, digest \(digest), recorded \(recorded[entry] ?? "none")",
            sourceLocation: sourceLocation)
  }

  /// The digest of the files in `directory`: SHA-256 over "name:sha256(bytes)\n" lines sorted by name.
  /// Ablation sidecars are hashed without their `file_bytes` and `file_fnv1a64` lines, which issue 16
  /// (`ablate --resume`) added after the digests were recorded; those two must instead be exactly the size
  /// and FNV-1a digest of the result file the sidecar describes, whose bytes are pinned here.
  static func digest(of directory: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    var lines = ""
    for name in names {
      var data = try Data(contentsOf: directory.appendingPathComponent(name))
      if name.hasSuffix(".safetensors.metadata.json") {
        let result = try Data(contentsOf: directory.appendingPathComponent(String(name.dropLast(".metadata.json".count))))
        data = try withoutFileFields(data, describing: result, name: name, sourceLocation: sourceLocation)
      }
      lines += "\(name):\(SHA256.hex(data))\n"
    }
    return SHA256.hex(Data(lines.utf8))
  }

  /// `sidecar` without its lines `"file_bytes" : <size of result>,` and `"file_fnv1a64" : "<digest of result>",`;
  /// a sidecar lacking either line, exactly so, is an issue.
  static func withoutFileFields(_ sidecar: Data, describing result: Data, name: String,
                                sourceLocation: SourceLocation) throws -> Data {
    let text = try #require(String(data: sidecar, encoding: .utf8), sourceLocation: sourceLocation)
    var lines = text.components(separatedBy: "\n")
    for line in ["  \"file_bytes\" : \(result.count),", "  \"file_fnv1a64\" : \"\(AblationResultFile.digest(result))\","] {
      guard let i = lines.firstIndex(of: line) else {
        Issue.record("\(name) lacks the line \(line)", sourceLocation: sourceLocation)
        continue
      }
      lines.remove(at: i)
    }
    return Data(lines.joined(separator: "\n").utf8)
  }

  /// The sidecars' digest is FNV-1a (64-bit): its published test values.
  @Test func sidecarDigestIsFNV1a64() {
    #expect(AblationResultFile.digest(Data()) == "cbf29ce484222325")
    #expect(AblationResultFile.digest(Data("a".utf8)) == "af63dc4c8601ec8c")
    #expect(AblationResultFile.digest(Data("foobar".utf8)) == "85944171f73967e8")
  }

  static func scratch(_ label: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("file-bytes-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  @Test(SharedData.needs(SharedData.corpus, SharedData.reference), arguments: names)
  func attributionFiles(name: String) throws {
    let model = try SparsifiedGPT.load(from: try SharedData.checkpoint(name))
    let corpus = try SharedData.preparedClassicCorpus()
    for method in [AttributionMethod.integratedGradients, .manualAblation] {
      // Manual ablation reruns the path once per active feature: one sequence keeps debug builds quick.
      let batchSize = method == .integratedGradients ? 2 : 1
      var loader = try TokenDataLoader(directory: corpus, split: .val, batchSize: batchSize, sequenceLength: model.gpt.config.blockSize)
      let attributor: any PairAttributor = method == .integratedGradients
        ? try IntegratedGradientsAttributor(model: model, steps: 2)
        : try ManualAblationAttributor(model: model)
      let result = try attributor.run(loader: &loader, batches: 1)
      let dir = try Self.scratch("attribution")
      defer { try? FileManager.default.removeItem(at: dir) }
      let metadata = AttributionMetadata(modelName: name, method: method, batchSize: batchSize, numBatches: 1,
                                         steps: method == .integratedGradients ? 2 : nil,
                                         epsilon: method == .manualAblation ? 0 : nil)
      try AttributionFile.write(result, metadata: metadata, to: dir.appendingPathComponent("\(name).safetensors"))
      Self.check("\(method.rawValue)/\(name)", try Self.digest(of: dir))
    }
  }

  @Test(SharedData.needs(SharedData.corpus, SharedData.reference), arguments: names)
  func ablationFiles(name: String) throws {
    let golden = try #require(JSONSerialization.jsonObject(
      with: Data(contentsOf: try SharedData.require("\(SharedData.reference)/golden/ablation_\(name).json"))) as? [String: Any])
    let layer = try #require(golden["layer"] as? Int), prompts = try #require(golden["prompts"] as? Int)
    let model = try SparsifiedGPT.load(from: try SharedData.checkpoint(name))
    let attributions = try AttributionFile.read(try SharedData.require("\(SharedData.reference)/golden/ig_\(name).safetensors"))
    let pair = try CircuitPair(model: model, layer: layer)
    let order = try EdgeRanking.byAttribution(try AttributionFile.matrix(attributions.tensors, for: pair, source: name), seed: 125)
    let tokens = try PromptRows.load(dataDirectory: try SharedData.preparedClassicCorpus(), count: prompts, length: 128)
    let clean = try withNoGrad { try model.gpt(tokens).value }
    let ablation = try PairAblation(pair: pair, prompts: tokens, cleanLogits: clean)
    let dir = try Self.scratch("ablation")
    defer { try? FileManager.default.removeItem(at: dir) }
    let counts = [1, 16, 256, 2048, ablation.totalEdges]
    try ablation.sweep(order: order, counts: counts) { computed in
      var point = computed
      point.seconds = 0
      for layout in [AblationResultFile.Layout.compact, .full] {
        let stem = AblationResultFile.stem(placement: pair.placementLabel, variant: layout.rawValue, selection: .gradient,
                                           layer: point.layer, edges: point.edges)
        try Self.writeAblation(point, stem: stem, pair: pair, model: model, totalEdges: ablation.totalEdges,
                               prompts: prompts, directory: dir, layout: layout)
      }
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).count == 4 * counts.count)
    Self.check("ablation/\(name)", try Self.digest(of: dir))
  }

  /// Writes a point and its sidecar as the `ablate` tool does (the sidecar was assembled from a `[String: Any]`
  /// when the digests were recorded, from `AblationMetadata` since), with fixed paths and timestamp.
  static func writeAblation(_ point: AblationPoint, stem: String, pair: CircuitPair, model: SparsifiedGPT, totalEdges: Int,
                            prompts: Int, directory: URL, layout: AblationResultFile.Layout) throws {
    let params = AblationMetadata.ExperimentParams(
      task: "magnitudes", ablator: "zero", placement: pair.placementLabel,
      edgeSelectionStrategy: EdgeSelection.gradient.rawValue, numEdges: point.edges, totalEdges: totalEdges,
      upstreamLayerIdx: point.layer, upstreamKey: pair.upstreamKey.description, downstreamKey: pair.downstreamKey.description,
      attributionKey: pair.attributionKey, numPrompts: prompts, sequenceLength: 128, randomSeed: 125,
      checkpoint: "checkpoints/fixture", dataset: "data/classic", saeVariantLabel: "label", attributions: "golden/ig.safetensors")
    let modelConfig = AblationMetadata.ModelConfig(
      nFeatures: model.config.nFeatures, saeVariant: model.config.saeVariant.rawValue, topK: model.config.topK ?? [],
      saeKeys: model.config.saeKeys.map(\.description))
    try AblationResultFile.write(point, stem: stem, directory: directory, layout: layout,
                                 metadata: AblationMetadata(experimentParams: params, modelConfig: modelConfig,
                                                            timestamp: "2026-01-01T00:00:00Z"))
  }
}
