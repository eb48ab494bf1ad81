import Foundation
import GPT
import SAE

/// Which trainer a SAE training preset uses (spec section 8).
public enum SAETrainerKind: String, Codable, Sendable, CaseIterable {
  /// Frozen GPT; one loss per SAE (or pair) from reconstruction, sparsity, aux (and the JSAE Jacobian term).
  case concurrent
  /// Frozen GPT; per SAE the KL divergence of patched logits plus sparsity and downstream reconstruction.
  case endToEnd = "end_to_end"
  /// GPT and SAEs trained together: CE plus normalised SAE losses.
  case regularization
}

/// Loss coefficients of a SAE training run (the reference's `LossCoefficients`).
public struct SAELossCoefficients: Codable, Equatable, Sendable {
  /// λ per SAE (per pair for `jsae` / `jsae_block`, where it weights the Jacobian penalty).
  public var sparsity: [Float]?
  /// Weight of the SAE terms in the regularization trainer.
  public var regularization: Float?
  /// Weight of the downstream reconstruction term in the end-to-end trainer.
  public var downstream: Float?
  /// JumpReLU straight-through kernel width ε.
  public var bandwidth: Float?

  public init(sparsity: [Float]? = nil, regularization: Float? = nil, downstream: Float? = nil, bandwidth: Float? = nil) {
    self.sparsity = sparsity
    self.regularization = regularization
    self.downstream = downstream
    self.bandwidth = bandwidth
  }
}

/// Settings of a SAE training run; JSON keys follow the reference's `SAETrainingConfig`. `sae_config` is the
/// name of an SAE model preset, or (in JSON) an inline SAE model object.
public struct SAETrainingConfig: TrainingLoopSettings, Codable, Equatable, Sendable {
  /// Run name; the run writes `<checkpoints dir>/<name>/`.
  public var name: String
  /// Name of the SAE model (`SAEModelConfig.preset`, unless `saeModel` defines it inline).
  public var saeConfig: String
  /// An inline SAE model (from a JSON file or a command-line override such as `--k`); nil = the preset.
  public var saeModel: SAEModelConfig?
  public var trainer: SAETrainerKind
  public var dataDir: String
  public var logInterval: Int
  public var evalInterval: Int
  public var evalSteps: Int
  public var batchSize: Int
  public var gradientAccumulationSteps: Int
  public var learningRate: Float
  public var warmupSteps: Int
  public var maxSteps: Int
  public var decayLR: Bool
  public var minLR: Float
  public var lossCoefficients: SAELossCoefficients

  /// Global gradient-norm clip over all SAE parameters (fixed, as in the reference).
  public static let gradClip: Float = 1.0

  public init(name: String, saeConfig: String, trainer: SAETrainerKind = .concurrent, dataDir: String = "data/shakespeare",
              logInterval: Int = 10, evalInterval: Int = 250, evalSteps: Int = 100, batchSize: Int = 128,
              gradientAccumulationSteps: Int = 1, learningRate: Float = 1e-3, warmupSteps: Int = 750, maxSteps: Int = 7500,
              decayLR: Bool = true, minLR: Float = 1e-4, lossCoefficients: SAELossCoefficients = SAELossCoefficients()) {
    self.name = name
    self.saeConfig = saeConfig
    self.trainer = trainer
    self.dataDir = dataDir
    self.logInterval = logInterval
    self.evalInterval = evalInterval
    self.evalSteps = evalSteps
    self.batchSize = batchSize
    self.gradientAccumulationSteps = gradientAccumulationSteps
    self.learningRate = learningRate
    self.warmupSteps = warmupSteps
    self.maxSteps = maxSteps
    self.decayLR = decayLR
    self.minLR = minLR
    self.lossCoefficients = lossCoefficients
  }

  enum CodingKeys: String, CodingKey {
    case name, saeConfig = "sae_config", trainer, dataDir = "data_dir", logInterval = "log_interval"
    case evalInterval = "eval_interval", evalSteps = "eval_steps", batchSize = "batch_size"
    case gradientAccumulationSteps = "gradient_accumulation_steps", learningRate = "learning_rate"
    case warmupSteps = "warmup_steps", maxSteps = "max_steps", decayLR = "decay_lr", minLR = "min_lr"
    case lossCoefficients = "loss_coefficients"
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    name = try c.decode(String.self, forKey: .name)
    if let named = try? c.decode(String.self, forKey: .saeConfig) {
      saeConfig = named
      saeModel = nil
    } else {
      let model = try c.decode(SAEModelConfig.self, forKey: .saeConfig)
      saeConfig = model.name
      saeModel = model
    }
    trainer = try c.decodeIfPresent(SAETrainerKind.self, forKey: .trainer) ?? .concurrent
    dataDir = try c.decode(String.self, forKey: .dataDir)
    logInterval = try c.decodeIfPresent(Int.self, forKey: .logInterval) ?? 10
    evalInterval = try c.decode(Int.self, forKey: .evalInterval)
    evalSteps = try c.decode(Int.self, forKey: .evalSteps)
    batchSize = try c.decode(Int.self, forKey: .batchSize)
    gradientAccumulationSteps = try c.decode(Int.self, forKey: .gradientAccumulationSteps)
    learningRate = try c.decode(Float.self, forKey: .learningRate)
    warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0
    maxSteps = try c.decode(Int.self, forKey: .maxSteps)
    decayLR = try c.decode(Bool.self, forKey: .decayLR)
    minLR = try c.decodeIfPresent(Float.self, forKey: .minLR) ?? 0
    lossCoefficients = try c.decodeIfPresent(SAELossCoefficients.self, forKey: .lossCoefficients) ?? SAELossCoefficients()
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(name, forKey: .name)
    if let saeModel { try c.encode(saeModel, forKey: .saeConfig) } else { try c.encode(saeConfig, forKey: .saeConfig) }
    try c.encode(trainer, forKey: .trainer)
    try c.encode(dataDir, forKey: .dataDir)
    try c.encode(logInterval, forKey: .logInterval)
    try c.encode(evalInterval, forKey: .evalInterval)
    try c.encode(evalSteps, forKey: .evalSteps)
    try c.encode(batchSize, forKey: .batchSize)
    try c.encode(gradientAccumulationSteps, forKey: .gradientAccumulationSteps)
    try c.encode(learningRate, forKey: .learningRate)
    try c.encode(warmupSteps, forKey: .warmupSteps)
    try c.encode(maxSteps, forKey: .maxSteps)
    try c.encode(decayLR, forKey: .decayLR)
    try c.encode(minLR, forKey: .minLR)
    try c.encode(lossCoefficients, forKey: .lossCoefficients)
  }

  /// The SAE model this run trains: the inline definition, or the preset named by `sae_config`.
  public func model() throws -> SAEModelConfig {
    if let saeModel { return saeModel }
    guard let m = SAEModelConfig.preset(saeConfig) else {
      throw TrainingError("unknown SAE model '\(saeConfig)' in training config \(name) (known: \(SAEModelConfig.presetNames.joined(separator: ", ")))")
    }
    return m
  }

  /// How many sparsity coefficients the model takes: one per pair for `jsae` / `jsae_block` (they weight the
  /// Jacobian penalty), one per SAE otherwise.
  public static func sparsityCount(for model: SAEModelConfig) -> Int {
    model.saeVariant.isJSAE ? model.saeKeys.count / 2 : model.saeKeys.count
  }

  /// Throws a one-line error naming the first invalid field (including the SAE model and its coefficients).
  public func validate() throws {
    func check(_ ok: Bool, _ message: String) throws { if !ok { throw TrainingError("invalid SAE training config \(name): \(message)") } }
    try validateLoop(minimumSteps: 1, check)
    let m = try model()
    try m.validate()
    let lc = lossCoefficients
    if let s = lc.sparsity {
      let n = Self.sparsityCount(for: m)
      let unit = n == m.saeKeys.count ? "SAE" : "pair"
      try check(s.count == n, "loss_coefficients.sparsity has \(s.count) values, \(m.name) needs \(n) (one per \(unit))")
      try check(s.allSatisfy { $0.isFinite && $0 >= 0 }, "loss_coefficients.sparsity must be finite and ≥ 0, got \(s)")
    } else {
      try check(m.saeVariant.isTopK, "variant \(m.saeVariant.rawValue) needs loss_coefficients.sparsity")
    }
    if let b = lc.bandwidth { try check(b.isFinite && b > 0, "loss_coefficients.bandwidth must be positive, got \(b)") }
    if let d = lc.downstream { try check(d.isFinite && d >= 0, "loss_coefficients.downstream must be ≥ 0, got \(d)") }
    if let r = lc.regularization { try check(r.isFinite && r >= 0, "loss_coefficients.regularization must be ≥ 0, got \(r)") }
    switch trainer {
    case .concurrent: break
    case .endToEnd:
      try check(lc.downstream != nil, "the end_to_end trainer needs loss_coefficients.downstream (--downstream)")
      try check(!m.saeVariant.isPaired, "the end_to_end trainer trains one SAE at a time; variant \(m.saeVariant.rawValue) trains pairs")
    case .regularization:
      try check(lc.regularization != nil, "the regularization trainer needs loss_coefficients.regularization (--regularization)")
    }
  }
}
