import Foundation
import GPT
import SAE

extension SAETrainer {
  /// The trainer `config.trainer` names — `ConcurrentSAETrainer`, `EndToEndSAETrainer` or
  /// `RegularizationSAETrainer` — on `gpt`.
  public static func make(config: SAETrainingConfig, gpt: GPT, checkpointsDirectory: URL, seed: UInt64 = 0,
                          echo: Bool = true) throws -> SAETrainer {
    switch config.trainer {
    case .concurrent:
      return try ConcurrentSAETrainer(config: config, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
    case .endToEnd:
      return try EndToEndSAETrainer(config: config, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
    case .regularization:
      return try RegularizationSAETrainer(config: config, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
    }
  }

  /// The trainer `config.trainer` names, on the GPT checkpoint in `loadFrom` (model.json +
  /// model.safetensors). Only the regularization trainer, which trains the GPT too, may start without one
  /// (`loadFrom` nil): it then starts from a fresh GPT of the SAE model's `gpt_config` initialised from
  /// `seed`, as the reference does.
  public static func make(config: SAETrainingConfig, loadFrom: URL?, checkpointsDirectory: URL, seed: UInt64 = 0,
                          echo: Bool = true) throws -> SAETrainer {
    try config.validate()
    let gpt: GPT
    if let loadFrom {
      gpt = try GPTCheckpoint.load(from: loadFrom)
    } else {
      guard config.trainer == .regularization else {
        throw TrainingError("the \(config.trainer.rawValue) trainer needs a GPT checkpoint to load; only the regularization trainer can start from a fresh GPT")
      }
      gpt = try GPT(config: try config.model().architecture(), seed: seed)
    }
    return try make(config: config, gpt: gpt, checkpointsDirectory: checkpointsDirectory, seed: seed, echo: echo)
  }
}
