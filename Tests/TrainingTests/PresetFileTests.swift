import Foundation
import GPT
import Testing
@testable import Training

/// Keeps the JSON copies under `config/` equal to the compiled-in presets: every file decodes to its preset,
/// every preset has a file and every file a preset. With `WRITE_PRESET_FILES=1` in the environment the files
/// are (re)written from the presets first.
@Suite(.serialized) struct PresetFileTests {
  /// The repository root (this file is Tests/TrainingTests/PresetFileTests.swift).
  static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let configDirectory = repositoryRoot.appendingPathComponent("config")
  static let writing = ProcessInfo.processInfo.environment["WRITE_PRESET_FILES"] == "1"

  /// One kind of preset file: where it lives, the preset names, and how to encode and compare one.
  struct Kind: CustomTestStringConvertible, Sendable {
    var directory: String
    var names: [String]
    /// JSON of the preset `name`.
    var encode: @Sendable (String) throws -> Data
    /// Nil when `data` decodes to the preset `name`, else what differs.
    var mismatch: @Sendable (String, Data) throws -> String?
    var testDescription: String { directory }
  }

  static func json<T: Encodable>(_ value: T) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value) + Data("\n".utf8)
  }

  static func compare<T: Decodable & Equatable>(_ type: T.Type, _ data: Data, _ expected: T?) throws -> String? {
    let decoded = try JSONDecoder().decode(T.self, from: data)
    return decoded == expected ? nil : "decodes to \(decoded), preset is \(String(describing: expected))"
  }

  /// The name recorded inside a preset file.
  struct Named: Decodable { var name: String }

  /// A GPT architecture preset as a file: model.json fields plus the name (and alpha_mlp for DynamicTanh).
  struct GPTModelFile: Codable {
    var name: String
    var blockSize: Int, vocabSize: Int, nLayer: Int, nHead: Int, nEmbd: Int
    var normStrategy: String
    var alphaMLP: Float?
    enum CodingKeys: String, CodingKey {
      case name, blockSize = "block_size", vocabSize = "vocab_size", nLayer = "n_layer", nHead = "n_head"
      case nEmbd = "n_embd", normStrategy = "norm_strategy", alphaMLP = "alpha_mlp"
    }
  }

  static let kinds: [Kind] = [
    Kind(directory: "gpt", names: GPTConfig.presetNames + GPTTrainingConfig.presetNames,
         encode: { name in
           if let t = GPTTrainingConfig.preset(name) { return try json(t) }
           let c = GPTConfig.preset(name)!
           return try json(GPTModelFile(name: name, blockSize: c.blockSize, vocabSize: c.vocabSize, nLayer: c.nLayer,
                                        nHead: c.nHead, nEmbd: c.nEmbd, normStrategy: c.normStrategy.rawValue,
                                        alphaMLP: c.normStrategy == .dynamicTanh ? c.alphaMLP : nil))
         },
         mismatch: { name, data in
           if let t = GPTTrainingConfig.preset(name) { return try compare(GPTTrainingConfig.self, data, t) }
           return try compare(GPTConfig.self, data, GPTConfig.preset(name))
         }),
    Kind(directory: "sae/models", names: SAEModelConfig.presetNames,
         encode: { try json(SAEModelConfig.preset($0)!) },
         mismatch: { try compare(SAEModelConfig.self, $1, SAEModelConfig.preset($0)) }),
    Kind(directory: "sae/training", names: SAETrainingConfig.presetNames,
         encode: { try json(SAETrainingConfig.preset($0)!) },
         mismatch: { try compare(SAETrainingConfig.self, $1, SAETrainingConfig.preset($0)) }),
  ]

  @Test(arguments: kinds) func filesEqualPresets(_ kind: Kind) throws {
    let dir = Self.configDirectory.appendingPathComponent(kind.directory)
    if Self.writing {
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      for name in kind.names { try kind.encode(name).write(to: dir.appendingPathComponent("\(name).json"), options: .atomic) }
    }
    #expect(Set(kind.names).count == kind.names.count, "duplicate preset names in \(kind.directory)")
    for name in kind.names {
      let url = dir.appendingPathComponent("\(name).json")
      guard FileManager.default.fileExists(atPath: url.path) else {
        Issue.record("preset \(name) has no file config/\(kind.directory)/\(name).json (run the tests with WRITE_PRESET_FILES=1)")
        continue
      }
      let data = try Data(contentsOf: url)
      if let difference = try kind.mismatch(name, data) { Issue.record("config/\(kind.directory)/\(name).json \(difference)") }
      #expect(try JSONDecoder().decode(Named.self, from: data).name == name, "name inside config/\(kind.directory)/\(name).json")
    }
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
    for file in files where !kind.names.contains(String(file.dropLast(5))) {
      Issue.record("config/\(kind.directory)/\(file) has no compiled-in preset")
    }
  }

  @Test func everySAETrainingPresetResolvesAndValidates() throws {
    for name in SAETrainingConfig.presetNames {
      let c = try #require(SAETrainingConfig.preset(name), "preset \(name)")
      #expect(c.name == name)
      try c.validate()
    }
    for name in SAEModelConfig.presetNames {
      let m = try #require(SAEModelConfig.preset(name))
      #expect(m.name == name)
      try m.validate()
    }
  }

  @Test func shakespeareDefaultsAndCoefficients() throws {
    let c = try #require(SAETrainingConfig.preset("topk.shakespeare_64x4"))
    #expect(c.saeConfig == "topk-10-x8.shakespeare_64x4" && c.trainer == .concurrent && c.dataDir == "data/shakespeare")
    #expect(c.batchSize == 128 && c.gradientAccumulationSteps == 1 && c.learningRate == 1e-3 && c.warmupSteps == 750)
    #expect(c.maxSteps == 7500 && c.decayLR && c.minLR == 1e-4 && c.evalInterval == 250 && c.evalSteps == 100)
    let e2e = try #require(SAETrainingConfig.preset("e2e.jumprelu.shakespeare_64x4"))
    #expect(e2e.trainer == .endToEnd && e2e.maxSteps == 10_000 && e2e.minLR == 1e-5)
    #expect(e2e.lossCoefficients == SAELossCoefficients(sparsity: [0.01, 1e-5, 0.005, 0.01, 0.005], downstream: 1, bandwidth: 0.1))
    #expect(SAETrainingConfig.preset("regularized.shakespeare_64x4")?.trainer == .regularization)
    #expect(SAETrainingConfig.preset("jsae.shakespeare_64x4")?.lossCoefficients.sparsity == [0.02, 0.02, 0.02, 0.02])
    let tblock = try #require(SAEModelConfig.preset("topk.tblock.shakespeare_64x4"))
    #expect(tblock.saeKeys.map(\.description) == ["0_act", "1_act", "2_act", "3_act", "4_act"])
    let pairs = try #require(SAEModelConfig.preset("staircase-pairsx8.shakespeare_64x4"))
    #expect(pairs.saeKeys.map(\.description) == ["0_residmid", "0_residpost", "1_residmid", "1_residpost",
                                                 "2_residmid", "2_residpost", "3_residmid", "3_residpost"])
    #expect(pairs.nFeatures == [512, 1024, 512, 1024, 512, 1024, 512, 1024])
  }

  @Test func inlineModelRoundTripsAndWrongSparsityCountFails() throws {
    var c = try #require(SAETrainingConfig.preset("jsae.shakespeare_64x4"))
    var m = try c.model()
    m.topK = [Int](repeating: 5, count: 8)
    c.saeModel = m
    let decoded = try JSONDecoder().decode(SAETrainingConfig.self, from: try Self.json(c))
    let decodedModel = try decoded.model()
    #expect(decoded == c && decodedModel.topK?.first == 5)
    // A reference-style dump: gpt_config as an object, extra fields, no trainer (concurrent by default).
    let dump = """
      {"name": "x", "device": "cpu", "data_dir": "d", "eval_interval": 5, "eval_steps": 2, "batch_size": 4,
       "gradient_accumulation_steps": 1, "learning_rate": 0.001, "warmup_steps": 0, "max_steps": 10, "decay_lr": false,
       "min_lr": 0, "weight_decay": 0.1, "grad_clip": 1.0, "trainable_layers": null,
       "sae_config": {"name": "m", "gpt_config": {"name": "ascii_64x4", "n_layer": 4}, "n_features": [64, 64],
                      "sae_variant": "topk", "top_k": [4, 4], "sae_keys": ["0_act", "1_act"]},
       "loss_coefficients": {"sparsity": null, "regularization": null, "downstream": null, "bandwidth": null}}
      """
    let fromDump = try JSONDecoder().decode(SAETrainingConfig.self, from: Data(dump.utf8))
    #expect(fromDump.trainer == .concurrent && fromDump.saeModel?.gptConfig == "ascii_64x4" && fromDump.saeConfig == "m")
    try fromDump.validate()
    c.lossCoefficients.sparsity = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    #expect(throws: TrainingError.self) { try c.validate() }
    var standard = try #require(SAETrainingConfig.preset("standard.shakespeare_64x4"))
    standard.lossCoefficients.sparsity = nil
    #expect(throws: TrainingError.self) { try standard.validate() }
    standard.saeConfig = "no-such-model"
    #expect(throws: TrainingError.self) { try standard.model() }
  }
}
