import Autograd
import Foundation
import GPT
import Tensor
import Testing
import TestSupport
@testable import SAE

/// SAE checkpoint files of the TopK variants: bit-exact round trips, file and tensor names and shapes as in
/// the reference's listing (../shared/docs/reference-checkpoint-listing.txt), one-line strict-loading errors,
/// and PyTorch interop of Swift-written checkpoints (Tests/Fixtures/interop, see its README).
@Suite struct SAECheckpointTests {
  // MARK: helpers

  static let tinyGPT = GPTConfig(blockSize: 16, vocabSize: 40, nLayer: 2, nHead: 2, nEmbd: 8)

  static func keys(_ names: [String]) -> [SAEKey] { names.map { SAEKey($0)! } }

  /// Small configs of each TopK variant on the 2-layer model.
  static func tinyConfig(_ variant: SAEVariant) -> SAEConfig {
    switch variant {
    case .topK:
      return SAEConfig(nFeatures: [16, 16, 16], saeVariant: .topK, topK: [3, 3, 4], saeKeys: keys(["0_act", "1_act", "2_act"]))
    case .topKStaircase, .topKStaircaseDetach:
      return SAEConfig(nFeatures: [8, 12, 16], saeVariant: variant, topK: [3, 3, 3], saeKeys: keys(["0_act", "1_act", "2_act"]))
    case .staircaseBlock:
      return SAEConfig(nFeatures: [8, 16, 8, 16], saeVariant: .staircaseBlock, topK: [3, 3, 3, 3],
                       saeKeys: keys(["0_residmid", "0_residpost", "1_residmid", "1_residpost"]))
    case .jsae:
      return SAEConfig(nFeatures: [16, 16, 16, 16], saeVariant: .jsae, topK: [3, 3, 3, 3],
                       saeKeys: keys(["0_mlpin", "0_mlpout", "1_mlpin", "1_mlpout"]))
    default:
      fatalError("not a TopK variant under test: \(variant)")
    }
  }

  /// Every tensor a set saves: own parameters by SAE index and shared matrices by group.
  static func allParameters(_ set: SAESet) -> [(String, Variable)] {
    var out: [(String, Variable)] = []
    for (i, sae) in set.saes.enumerated() { out += prefixed("sae.\(i)", sae.namedParameters) }
    for g in set.groups { out += prefixed("shared.\(g.group)", g.namedParameters) }
    return out
  }

  static func perturb(_ params: [Variable], seed: UInt64, std: Float = 0.05) {
    var g = RandomGenerator(seed: seed)
    for p in params { p.assign(p.value + Tensor.normal(p.shape, std: std, generator: &g)) }
  }

  static func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sae-ckpt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  static func errorMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
  }

  /// Tensor name → (dtype, shape), and `__metadata__` when present, read straight from a safetensors header.
  static func header(_ url: URL) throws -> (tensors: [String: (String, [Int])], metadata: [String: Any]?) {
    let data = try Data(contentsOf: url)
    let n = data.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
    let json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
    var tensors: [String: (String, [Int])] = [:]
    var metadata: [String: Any]?
    for (name, value) in json {
      let entry = value as! [String: Any]
      if name == "__metadata__" { metadata = entry; continue }
      tensors[name] = (entry["dtype"] as! String, (entry["shape"] as! [Any]).map { ($0 as! NSNumber).intValue })
    }
    return (tensors, metadata)
  }

  // MARK: round trips

  @Test(arguments: [SAEVariant.topK, .topKStaircase, .topKStaircaseDetach, .staircaseBlock, .jsae])
  func roundTripIsBitExact(_ variant: SAEVariant) throws {
    let config = Self.tinyConfig(variant)
    let set = try SAEBuilder.build(config, gpt: Self.tinyGPT, seed: 1)
    Self.perturb(Self.allParameters(set).map(\.1), seed: 2)
    let dir = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try SAECheckpoint.save(set, config: config, to: dir)
    #expect(try SAEConfig.load(from: dir) == config)

    let fresh = try SAEBuilder.build(config, gpt: Self.tinyGPT, seed: 99)
    let before = zip(Self.allParameters(set), Self.allParameters(fresh)).filter { Self.bits($0.1.value) != Self.bits($1.1.value) }
    #expect(!before.isEmpty, "a fresh set already equals the saved one: the round trip would prove nothing")
    try SAECheckpoint.load(into: fresh, from: dir)
    for ((name, a), (_, b)) in zip(Self.allParameters(set), Self.allParameters(fresh)) {
      #expect(a.shape == b.shape && Self.bits(a.value) == Self.bits(b.value), "\(variant.rawValue) \(name)")
    }
    // Staircase members still share their group's matrices after loading.
    for sae in fresh.saes {
      if let member = sae as? TopKSAE, let shared = member.shared { #expect(member.wEnc === shared.wEnc && member.wDec === shared.wDec) }
    }
  }

  @Test func sharedFilesAreWrittenByTheLargestMember() throws {
    let config = Self.tinyConfig(.staircaseBlock)
    let set = try SAEBuilder.build(config, gpt: Self.tinyGPT, seed: 3)
    let dir = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try SAECheckpoint.save(set, config: config, to: dir, indices: [0, 3])  // 0_residmid and 1_residpost
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    #expect(names == ["sae.0.safetensors", "sae.3.safetensors", "sae.json", "sae.shared.1.safetensors"])
  }

  // MARK: the reference's listing

  /// One section of the listing: sae.json text and each listed file's tensors.
  static func listingSections(_ url: URL) throws -> [String: (json: String, files: [String: [String: (String, [Int])]])] {
    var out: [String: (json: String, files: [String: [String: (String, [Int])]])] = [:]
    var section: String?, file: String?
    for raw in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
      let line = String(raw), trimmed = line.trimmingCharacters(in: .whitespaces)
      if line.hasPrefix("#") { continue }
      if line.hasPrefix("== ") {
        section = String(line.dropFirst(3)); file = nil
        out[section!] = ("", [:])
      } else if let s = section, trimmed.hasPrefix("sae.json: ") {
        out[s]!.json = String(trimmed.dropFirst("sae.json: ".count))
      } else if let s = section, line.prefix(while: { $0 == " " }).count == 2 {
        file = trimmed.components(separatedBy: " ")[0]
        out[s]!.files[file!] = [:]
      } else if let s = section, let f = file {
        let fields = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        let dims = fields[2].trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).split(separator: ",")
        out[s]!.files[f]![String(fields[0])] = (String(fields[1]), dims.map { Int($0.trimmingCharacters(in: .whitespaces))! })
      }
    }
    return out
  }

  static let listing = "docs/reference-checkpoint-listing.txt"

  @Test(SharedData.needs(listing), arguments: [
    "sae_topk.shakespeare_64x4", "sae_topk-staircase-share.shakespeare_64x4", "sae_topk.mlplayer.shk_64x4",
    "sae_jsae.shakespeare_64x4", "sae_staircase-mlpblock.shk_64x4",
  ])
  func filesMatchTheListing(_ name: String) throws {
    let sections = try Self.listingSections(try SharedData.require(Self.listing))
    let entry = try #require(sections[name], "no section \(name) in the listing")
    let config = try JSONDecoder().decode(SAEConfig.self, from: Data(entry.json.utf8))
    let set = try SAEBuilder.build(config, gpt: try #require(GPTConfig.preset("ascii_64x4")), seed: 1)
    let dir = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try SAECheckpoint.save(set, config: config, to: dir)

    #expect(try String(contentsOf: dir.appendingPathComponent("sae.json"), encoding: .utf8) == entry.json)
    let shared = entry.files.keys.filter { $0.hasPrefix("sae.shared.") }
    let expectedFiles = ["sae.json"] + config.saeKeys.indices.map { "sae.\($0).safetensors" } + shared
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == expectedFiles.sorted())

    let f0 = config.nFeatures[0]
    for file in expectedFiles where file != "sae.json" {
      var expected = entry.files[file]
      if expected == nil, let i = Int(file.dropFirst(4).prefix { $0.isNumber }) {
        // Files after the first two repeat sae.0's names; sizes follow n_features.
        expected = entry.files["sae.0.safetensors"]!.mapValues { ($0.0, $0.1.map { $0 == f0 ? config.nFeatures[i] : $0 }) }
      }
      let want = try #require(expected, "\(name): nothing listed for \(file)")
      let got = try Self.header(dir.appendingPathComponent(file))
      #expect(got.metadata == nil, "\(name) \(file): SAE files carry no __metadata__")
      #expect(got.tensors.keys.sorted() == want.keys.sorted(), "\(name) \(file)")
      for (tensor, (dtype, shape)) in want {
        #expect(got.tensors[tensor]?.0 == dtype && got.tensors[tensor]?.1 == shape,
                "\(name) \(file) \(tensor): wrote \(String(describing: got.tensors[tensor])), listed \(dtype) \(shape)")
      }
    }
  }

  // MARK: strict loading

  static func savedStaircase(_ dir: URL) throws {
    let gpt = try GPT(config: tinyGPT, seed: 1)
    let model = try SparsifiedGPT(gpt: gpt, config: tinyConfig(.topKStaircase), seed: 2)
    try model.save(to: dir)
  }

  static func editFile(_ url: URL, _ edit: (inout SafeTensorsFile) -> Void) throws {
    var file = try SafeTensors.read(contentsOf: url)
    edit(&file)
    try SafeTensors.write(file, to: url)
  }

  static func writeJSON(_ text: String, _ dir: URL) throws {
    try Data(text.utf8).write(to: dir.appendingPathComponent("sae.json"))
  }

  @Test func strictLoadingErrorsAreOneLine() throws {
    let keys = "\"sae_keys\": [\"0_act\", \"1_act\", \"2_act\"]"
    let cases: [(String, (URL) throws -> Void, [String])] = [
      ("missing SAE file", { try FileManager.default.removeItem(at: $0.appendingPathComponent("sae.1.safetensors")) },
       ["sae.1.safetensors", "missing"]),
      ("missing shared file", { try FileManager.default.removeItem(at: $0.appendingPathComponent("sae.shared.0.safetensors")) },
       ["sae.shared.0.safetensors", "missing"]),
      ("missing tensor", { try Self.editFile($0.appendingPathComponent("sae.1.safetensors")) { $0.tensors["b_dec"] = nil } },
       ["sae.1.safetensors", "missing", "b_dec"]),
      ("unexpected tensor", { try Self.editFile($0.appendingPathComponent("sae.0.safetensors")) { $0.tensors["W_enc"] = Tensor(zeros: [8, 8]) } },
       ["sae.0.safetensors", "unexpected", "W_enc"]),
      ("wrong shape", { try Self.editFile($0.appendingPathComponent("sae.2.safetensors")) { $0.tensors["b_enc"] = Tensor(zeros: [15]) } },
       ["sae.2.safetensors", "b_enc", "[16]", "[15]"]),
      ("wrong shared shape", { try Self.editFile($0.appendingPathComponent("sae.shared.0.safetensors")) { $0.tensors["W_dec"] = Tensor(zeros: [12, 8]) } },
       ["sae.shared.0.safetensors", "W_dec"]),
      ("corrupt file", { try Data("garbage".utf8).write(to: $0.appendingPathComponent("sae.0.safetensors")) },
       ["sae.0.safetensors"]),
      ("missing sae.json", { try FileManager.default.removeItem(at: $0.appendingPathComponent("sae.json")) },
       ["sae.json", "missing"]),
      ("bad JSON", { try Self.writeJSON("{\"n_features\": [8, 12", $0) }, ["sae.json", "JSON"]),
      ("bad key", { try Self.writeJSON("{\"n_features\": [8, 12, 16], \"sae_variant\": \"topk_staircase\", \"top_k\": [3, 3, 3], \"sae_keys\": [\"0_act\", \"1_foo\", \"2_act\"]}", $0) },
       ["sae.json", "1_foo"]),
      ("unknown variant", { try Self.writeJSON("{\"n_features\": [8, 12, 16], \"sae_variant\": \"topk_magic\", \"top_k\": [3, 3, 3], \(keys)}", $0) },
       ["sae.json", "topk_magic"]),
      ("counts disagree", { try Self.writeJSON("{\"n_features\": [8, 12], \"sae_variant\": \"topk_staircase\", \"top_k\": [3, 3, 3], \(keys)}", $0) },
       ["sae.json", "n_features"]),
      ("no top_k", { try Self.writeJSON("{\"n_features\": [8, 12, 16], \"sae_variant\": \"topk_staircase\", \(keys)}", $0) },
       ["sae.json", "top_k"]),
      ("key outside the model", { try Self.writeJSON("{\"n_features\": [8, 12, 16], \"sae_variant\": \"topk_staircase\", \"top_k\": [3, 3, 3], \"sae_keys\": [\"0_act\", \"1_act\", \"5_act\"]}", $0) },
       ["sae.json", "5_act"]),
      ("sizes that do not fit the files", { try Self.writeJSON("{\"n_features\": [8, 12, 20], \"sae_variant\": \"topk_staircase\", \"top_k\": [3, 3, 3], \(keys)}", $0) },
       ["b_enc", "[20]", "[16]"]),
    ]
    for (label, breakIt, words) in cases {
      let dir = try Self.temporaryDirectory()
      defer { try? FileManager.default.removeItem(at: dir) }
      try Self.savedStaircase(dir)
      _ = try SparsifiedGPT.load(from: dir)  // intact before breaking it
      try breakIt(dir)
      let message = Self.errorMessage { _ = try SparsifiedGPT.load(from: dir) }
      #expect(message != nil, "\(label): loading did not fail")
      guard let message else { continue }
      #expect(!message.contains("\n"), "\(label): \(message)")
      for word in words { #expect(message.contains(word), "\(label): '\(message)' does not mention \(word)") }
    }
  }

  // MARK: PyTorch interop (Tests/Fixtures/interop)

  static let interop = SharedData.repositoryRoot.appendingPathComponent("Tests/Fixtures/interop")
  static let interopGPT = GPTConfig(blockSize: 32, vocabSize: 128, nLayer: 2, nHead: 2, nEmbd: 16)
  static let interopSAEs: [(name: String, config: SAEConfig)] = [
    ("sae_tiny_topk", SAEConfig(nFeatures: [64, 64, 64], saeVariant: .topK, topK: [4, 4, 4], saeKeys: keys(["0_act", "1_act", "2_act"]))),
    ("sae_tiny_staircase", SAEConfig(nFeatures: [32, 48, 64], saeVariant: .topKStaircase, topK: [4, 4, 4],
                                     saeKeys: keys(["0_act", "1_act", "2_act"]))),
    ("sae_tiny_ffblock", SAEConfig(nFeatures: [32, 64, 32, 64], saeVariant: .staircaseBlock, topK: [4, 4, 4, 4],
                                   saeKeys: keys(["0_residmid", "0_residpost", "1_residmid", "1_residpost"]))),
  ]

  /// A GPT of `config` with N(0, 0.2) noise on every parameter (nonzero biases, non-trivial norms, logits far
  /// from uniform).
  static func interopModel(_ config: GPTConfig, seed: UInt64) throws -> GPT {
    let gpt = try GPT(config: config, seed: seed)
    perturb(gpt.parameters, seed: seed + 100, std: 0.2)
    return gpt
  }

  /// Writes the Swift-side interop checkpoints into Tests/Fixtures/interop (run with INTEROP_WRITE=1, then
  /// Tests/Fixtures/torch_interop.py; see Tests/Fixtures/interop/README.md).
  @Test(.enabled(if: ProcessInfo.processInfo.environment["INTEROP_WRITE"] == "1", "writes fixtures only with INTEROP_WRITE=1"))
  func writeInteropCheckpoints() throws {
    let gpt = try Self.interopModel(Self.interopGPT, seed: 1)
    try GPTCheckpoint.save(gpt, to: Self.interop.appendingPathComponent("gpt_tiny"))
    var dytConfig = Self.interopGPT
    dytConfig.normStrategy = .dynamicTanh
    try GPTCheckpoint.save(try Self.interopModel(dytConfig, seed: 2), to: Self.interop.appendingPathComponent("gpt_tiny_dyt"))
    for (i, entry) in Self.interopSAEs.enumerated() {
      let model = try SparsifiedGPT(gpt: gpt, config: entry.config, seed: 10 + UInt64(i))
      Self.perturb(model.namedParameters.map(\.1), seed: 20 + UInt64(i))
      try model.save(to: Self.interop.appendingPathComponent(entry.name))
    }
    print("wrote \(Self.interop.path)")
  }

  /// The Swift-written GPT + SAE checkpoints as PyTorch evaluated them (torch_outputs.json): clean logits,
  /// per key L0, reconstruction loss, the first tokens' sparse magnitudes and the logits with that SAE patched
  /// (spec section 5 patch points), and the logits with every SAE patched.
  @Test(arguments: ["sae_tiny_topk", "sae_tiny_staircase", "sae_tiny_ffblock"])
  func swiftWrittenCheckpointsMatchPyTorch(_ name: String) throws {
    let outputs = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.interop.appendingPathComponent("torch_outputs.json"))) as! [String: Any]
    let entry = try #require(outputs[name] as? [String: Any])
    let model = try SparsifiedGPT.load(from: Self.interop.appendingPathComponent(name))
    let inputs = try InteropSummary.intRows(entry["inputs"]), targets = try InteropSummary.intRows(entry["targets"])
    var worst = 0.0
    try withNoGrad {
      let (clean, outs) = try model.run(inputs)
      worst = max(worst, try InteropSummary.maxDifference(clean.value, targets: targets, summary: try #require(entry["clean"] as? [String: Any])))
      let perKey = try #require(entry["keys"] as? [String: [String: Any]])
      #expect(Set(perKey.keys) == Set(model.keys.map(\.description)))
      for key in model.keys {
        let rec = try #require(perKey[key.description]), out = try #require(outs[key])
        worst = max(worst, abs(Double(out.losses.l0) - (rec["l0"] as! Double)))
        worst = max(worst, abs(Double(out.losses.reconstruct.value.scalar) - (rec["reconstruction_loss"] as! Double)))
        let first = try #require(rec["magnitudes_first_tokens"] as? [[String: [Double]]])
        let m = out.magnitudes
        for (r, token) in first.enumerated() {
          let range = m.offsets[r]..<m.offsets[r + 1]
          #expect(m.indices[range].map(Int.init) == token["indices"]!.map { Int($0) }, "\(name) \(key) token \(r): active features")
          for (v, w) in zip(m.values[range], token["values"]!) { worst = max(worst, abs(Double(v) - w)) }
        }
        let patched = try model.run(inputs, patch: [key]).logits.value
        worst = max(worst, try InteropSummary.maxDifference(patched, targets: targets, summary: try #require(rec["patched"] as? [String: Any])))
      }
      let compound = try model.run(inputs, patch: Set(model.keys)).logits.value
      worst = max(worst, try InteropSummary.maxDifference(compound, targets: targets, summary: try #require(entry["compound"] as? [String: Any])))
      // The comparison can fail: the patched logits differ from the clean ones by far more than the tolerance.
      #expect(try InteropSummary.maxDifference(clean.value, targets: targets, summary: try #require(entry["compound"] as? [String: Any])) > 1e-2)
    }
    #expect(worst <= 1e-4, "\(name): max |Δ| \(worst)")
    print(String(format: "%@ vs PyTorch: max |Δ| %.2e (logits clean / per-key patched / compound, L0, reconstruction loss, magnitudes)", name, worst))
  }
}
