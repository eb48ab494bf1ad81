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
/// matrices into Float sums, issue 16: relative difference 8e-8 to the previous files). Every digest was
/// re-recorded when attention moved from sgemm row blocks to `AttentionHeadKernel`'s loops, which sum in an
/// order of their own (issue 13; the golden tests keep their tolerances): all eight settings below on one Zen 4
/// machine, each OpenBLAS core chosen with OPENBLAS_CORETYPE and the thread count with `taskset`.
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
      "ablation/fx_ff_block_staircase": "8ac14adf8fe9a24f5a2affdf128e767933e0743db823030827a7d219a2faea93",
      "ablation/fx_ff_layer_jsae": "a33914e180b83d9b86f212ad2b9872e75b736733241ddbe6bd5e279e1dda89b9",
      "ablation/fx_trans_block_topk": "b05f3b4a11fe4ac12de57281901e4583a05a84cf62a2dde4211bfcf4b5ffa28f",
      "ig/fx_ff_block_staircase": "50d11ee5993d590c63d18fb893aac085ae85bfb0c664c43f6262739eaae85a3e",
      "ig/fx_ff_layer_jsae": "e369eaf0ee9109957ede0f9bdb1d8801073b0af243541cf88126cabf427a9abe",
      "ig/fx_trans_block_topk": "96f79597adb0361a20ae1e99b3a0cace890014b726bb0892e1a52f622df128a4",
      "ma/fx_ff_block_staircase": "0a9aa865e4bf0fb508e1213f55bb8548c1bc35a8cb9d19ba01f9d3bbda4638ec",
      "ma/fx_ff_layer_jsae": "7ad8334aa402f031142e0fcb6aa57dbb72f6d4b158dcf0601433b99eaae002ee",
      "ma/fx_trans_block_topk": "30a7975f1166e4be6575fcb191b419cb18b27e0bef86cd7fcea820ab554635a9",
    ],
    "release-2-SkylakeX": [
      "ablation/fx_ff_block_staircase": "8ac14adf8fe9a24f5a2affdf128e767933e0743db823030827a7d219a2faea93",
      "ablation/fx_ff_layer_jsae": "a33914e180b83d9b86f212ad2b9872e75b736733241ddbe6bd5e279e1dda89b9",
      "ablation/fx_trans_block_topk": "b05f3b4a11fe4ac12de57281901e4583a05a84cf62a2dde4211bfcf4b5ffa28f",
      "ig/fx_ff_block_staircase": "cb17a8dcfa24b0ac0b041500a920fe7f7e0385eb57a6685f75874feeeaa46c38",
      "ig/fx_ff_layer_jsae": "1e71d92393b54965ec4edec4e20b81b2c0fb6208e519e990312ce52239a85a8f",
      "ig/fx_trans_block_topk": "96f79597adb0361a20ae1e99b3a0cace890014b726bb0892e1a52f622df128a4",
      "ma/fx_ff_block_staircase": "0a9aa865e4bf0fb508e1213f55bb8548c1bc35a8cb9d19ba01f9d3bbda4638ec",
      "ma/fx_ff_layer_jsae": "7ad8334aa402f031142e0fcb6aa57dbb72f6d4b158dcf0601433b99eaae002ee",
      "ma/fx_trans_block_topk": "30a7975f1166e4be6575fcb191b419cb18b27e0bef86cd7fcea820ab554635a9",
    ],
    "release-1-Prescott": [
      "ablation/fx_ff_block_staircase": "2648d7f6dc848bfcf40a1285843e19d1968f7601be80af40e061f96ac6936aa4",
      "ablation/fx_ff_layer_jsae": "6e26495b9d4983cb4595376752e08105ad491fc6544250417ffb2b6c652a4239",
      "ablation/fx_trans_block_topk": "fdacf1750f1145c4901c3642c00ce4b203a67dbad45fae856af7ba01bf19d2ef",
      "ig/fx_ff_block_staircase": "3e95d5646fca90a03759ce93b18e3aa10207509647f2b7d8a70ceca119303ce7",
      "ig/fx_ff_layer_jsae": "4dbfd6ef2ef5e7cf04666566fa7fad40df64e6aa3515cb29f8dee05b84c59a80",
      "ig/fx_trans_block_topk": "a0ac296449666f8f38b2a4b7cb258e46313bb2ece3f1cc7b21f2bfa6c531f751",
      "ma/fx_ff_block_staircase": "9533224249c707fbc9ae2918e1026d9f15a7d2e8798bb12686349be6cdcee34a",
      "ma/fx_ff_layer_jsae": "57a097d168b9140bc43ef1a81fb06ed053bb0d04c78cb52e99f8bd1f6e1de6ba",
      "ma/fx_trans_block_topk": "6545c2aa78d647a10f3b71086f5070dcbba3584b40f6e73d86a7b41d7cd967db",
    ],
    "release-2-Prescott": [
      "ablation/fx_ff_block_staircase": "2648d7f6dc848bfcf40a1285843e19d1968f7601be80af40e061f96ac6936aa4",
      "ablation/fx_ff_layer_jsae": "6e26495b9d4983cb4595376752e08105ad491fc6544250417ffb2b6c652a4239",
      "ablation/fx_trans_block_topk": "fdacf1750f1145c4901c3642c00ce4b203a67dbad45fae856af7ba01bf19d2ef",
      "ig/fx_ff_block_staircase": "11ee74bf2a35c1e6505980bc3630b18506e2941ddab5b8e92babbdc4e15d6a59",
      "ig/fx_ff_layer_jsae": "64628f22457c2a975a415763cfd6e89cc466700a444cc1428978079114ebee19",
      "ig/fx_trans_block_topk": "ab24cdc90e00be57cc1e997586b5b94d8af36d468a75ee3ed8db145d9b28e127",
      "ma/fx_ff_block_staircase": "9533224249c707fbc9ae2918e1026d9f15a7d2e8798bb12686349be6cdcee34a",
      "ma/fx_ff_layer_jsae": "57a097d168b9140bc43ef1a81fb06ed053bb0d04c78cb52e99f8bd1f6e1de6ba",
      "ma/fx_trans_block_topk": "6545c2aa78d647a10f3b71086f5070dcbba3584b40f6e73d86a7b41d7cd967db",
    ],
    "release-1-Zen": [
      "ablation/fx_ff_block_staircase": "51b4b0943076251b0891826992d3549598bbced79a51109036c5a6c4c5df0bbc",
      "ablation/fx_ff_layer_jsae": "a9fdc5ae39fe6590b77803ff6634ba332f56ef85caa62d214f7a999353a649d7",
      "ablation/fx_trans_block_topk": "c825c995c0867b798ec612dc71640ba68f63c147d318d5e4bda03039c3f30f81",
      "ig/fx_ff_block_staircase": "35ec1b25954a1160d447ae8a101535c16604b303bfde4aae440e727cd7ec3319",
      "ig/fx_ff_layer_jsae": "aab54461a731b853782e37088285321d48289d367b0db4972289b1396e9d9ac6",
      "ig/fx_trans_block_topk": "66dd7ce7c546ed0b0f30cbe5dbdd29c8b8b252cc597085aa96788d7d69fe950d",
      "ma/fx_ff_block_staircase": "d8c44511ac2853259b83de28b1b337efc45d2457be2dac4c5eeeaa69ff101d63",
      "ma/fx_ff_layer_jsae": "d46f9b6d1113a3f308868a6f808547313fb4625c83c2965c199a18f563ea2547",
      "ma/fx_trans_block_topk": "c0ad5b1ce09867579d2c772ddf86f91e32273f3a4828e449cdbd3a13db017ae1",
    ],
    "release-2-Zen": [
      "ablation/fx_ff_block_staircase": "e9d174d271696d585db59a6933f23d55e7c201d5b026d46fa55aca203ca383cc",
      "ablation/fx_ff_layer_jsae": "e91d7cb02c41f5f9e510dfb33b8321814b548ff37b4fdd1b76aa07e322be8cf9",
      "ablation/fx_trans_block_topk": "44ef236a8c11e3c9a18c277b0a0e72580ecc9f33a61505b5d7e02956ac75e9cf",
      "ig/fx_ff_block_staircase": "e5465a3bda2fc4dfcdea9b4793603e82daff9fa74fb8f57e7e72e89e045834f3",
      "ig/fx_ff_layer_jsae": "1a8c8885d0dbafe4e719587bf16685377c21fb744f59ac7df62a46b765a35a98",
      "ig/fx_trans_block_topk": "547f687219aada8e01ee97fca48df600567b8abcd06e16112e4494012a56261d",
      "ma/fx_ff_block_staircase": "9abe302dd75fd17900875b57bf3662d31b3ce0890e7b4ffefe7e67b576e6cd3f",
      "ma/fx_ff_layer_jsae": "b7e782debc4d2f12334898679eed24676f672070165d041bc2af40b092b8b3fa",
      "ma/fx_trans_block_topk": "d3193556c873a79a9b3f8f4327d0a02064566398a94fa9e1032efd9f5aa9decb",
    ],
    "release-1-Cooperlake": [
      "ablation/fx_ff_block_staircase": "637aba9a736b5cd75bbc0571d1db296b9c583fecd81e0b2432c6ea28a5d72e88",
      "ablation/fx_ff_layer_jsae": "a33914e180b83d9b86f212ad2b9872e75b736733241ddbe6bd5e279e1dda89b9",
      "ablation/fx_trans_block_topk": "b05f3b4a11fe4ac12de57281901e4583a05a84cf62a2dde4211bfcf4b5ffa28f",
      "ig/fx_ff_block_staircase": "50d11ee5993d590c63d18fb893aac085ae85bfb0c664c43f6262739eaae85a3e",
      "ig/fx_ff_layer_jsae": "e369eaf0ee9109957ede0f9bdb1d8801073b0af243541cf88126cabf427a9abe",
      "ig/fx_trans_block_topk": "e5e059e98595a964c59c6231797027d9307a740f8f15c8d8ed1979dfe60b2262",
      "ma/fx_ff_block_staircase": "0a9aa865e4bf0fb508e1213f55bb8548c1bc35a8cb9d19ba01f9d3bbda4638ec",
      "ma/fx_ff_layer_jsae": "7ad8334aa402f031142e0fcb6aa57dbb72f6d4b158dcf0601433b99eaae002ee",
      "ma/fx_trans_block_topk": "30a7975f1166e4be6575fcb191b419cb18b27e0bef86cd7fcea820ab554635a9",
    ],
    "release-2-Cooperlake": [
      "ablation/fx_ff_block_staircase": "637aba9a736b5cd75bbc0571d1db296b9c583fecd81e0b2432c6ea28a5d72e88",
      "ablation/fx_ff_layer_jsae": "a33914e180b83d9b86f212ad2b9872e75b736733241ddbe6bd5e279e1dda89b9",
      "ablation/fx_trans_block_topk": "b05f3b4a11fe4ac12de57281901e4583a05a84cf62a2dde4211bfcf4b5ffa28f",
      "ig/fx_ff_block_staircase": "cb17a8dcfa24b0ac0b041500a920fe7f7e0385eb57a6685f75874feeeaa46c38",
      "ig/fx_ff_layer_jsae": "1e71d92393b54965ec4edec4e20b81b2c0fb6208e519e990312ce52239a85a8f",
      "ig/fx_trans_block_topk": "e5e059e98595a964c59c6231797027d9307a740f8f15c8d8ed1979dfe60b2262",
      "ma/fx_ff_block_staircase": "0a9aa865e4bf0fb508e1213f55bb8548c1bc35a8cb9d19ba01f9d3bbda4638ec",
      "ma/fx_ff_layer_jsae": "7ad8334aa402f031142e0fcb6aa57dbb72f6d4b158dcf0601433b99eaae002ee",
      "ma/fx_trans_block_topk": "30a7975f1166e4be6575fcb191b419cb18b27e0bef86cd7fcea820ab554635a9",
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
