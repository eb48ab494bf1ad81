import Foundation

extension SAETrainingConfig {
  /// Names of the reference's SAE training presets.
  public static let presetNames = [
    "topk.shakespeare_64x4", "top5.shakespeare_64x4", "top20.shakespeare_64x4",
    "topk-staircase-share.shakespeare_64x4", "topk-staircase-noshare.shakespeare_64x4",
    "topk-staircase-detach.shakespeare_64x4",
    "topk.mlplayer.shk_64x4", "topk.mlpblock.shk_64x4", "topk.tblock.shk_64x4", "mlp-topk.shakespeare_64x4",
    "staircase-mlpblock.shk_64x4", "jsae.shakespeare_64x4",
    "standard.shakespeare_64x4", "standard_fat.shakespeare_64x4", "multilayer.shakespeare_64x4",
    "staircase.shakespeare_64x4", "jumprelu.shakespeare_64x4", "jumprelu-staircase.shakespeare_64x4",
    "end-to-end.shakespeare_64x4", "e2e.jumprelu.shakespeare_64x4", "regularized.shakespeare_64x4",
    "standard.tiny_32x4", "jumprelu.stories_256x4", "e2e.jumprelu.stories_256x4",
  ]

  /// The reference's SAE training presets (compiled in; `config/sae/training/*.json` mirrors them), or nil.
  /// Shakespeare runs share batch 128, lr 1e-3, warmup 750, 7,500 steps, cosine decay to 1e-4, and evaluate
  /// every 250 steps over 100 batches.
  public static func preset(_ name: String) -> SAETrainingConfig? {
    func shakespeare(_ model: String, _ trainer: SAETrainerKind = .concurrent, sparsity: [Float]? = nil,
                     regularization: Float? = nil, downstream: Float? = nil, bandwidth: Float? = nil) -> SAETrainingConfig {
      SAETrainingConfig(name: name, saeConfig: model, trainer: trainer,
                        lossCoefficients: SAELossCoefficients(sparsity: sparsity, regularization: regularization,
                                                              downstream: downstream, bandwidth: bandwidth))
    }
    let standardL: [Float] = [0.02, 0.06, 0.2, 0.2, 0.5]
    let jumpL: [Float] = [0.01, 0.01, 0.01, 0.03, 0.08]
    switch name {
    case "topk.shakespeare_64x4": return shakespeare("topk-10-x8.shakespeare_64x4")
    case "top5.shakespeare_64x4", "top20.shakespeare_64x4": return shakespeare(name)
    case "topk-staircase-share.shakespeare_64x4": return shakespeare("topk-staircase-10-x8-share.shakespeare_64x4")
    case "topk-staircase-noshare.shakespeare_64x4": return shakespeare("topk-staircase-10-x8-noshare.shakespeare_64x4")
    case "topk-staircase-detach.shakespeare_64x4": return shakespeare("topk-staircase-10-x8-detach.shakespeare_64x4")
    case "topk.mlplayer.shk_64x4": return shakespeare("topk.mlplayer.shakespeare_64x4")
    case "topk.mlpblock.shk_64x4": return shakespeare("topk.mlpblock.shakespeare_64x4")
    case "topk.tblock.shk_64x4": return shakespeare("topk.tblock.shakespeare_64x4")
    case "mlp-topk.shakespeare_64x4": return shakespeare("mlp.topkx8.shakespeare_64x4")
    case "staircase-mlpblock.shk_64x4": return shakespeare("staircase-pairsx8.shakespeare_64x4")
    case "jsae.shakespeare_64x4": return shakespeare("jsae.topkx8.shakespeare_64x4", sparsity: [0.02, 0.02, 0.02, 0.02])
    case "standard.shakespeare_64x4": return shakespeare("standardx8.shakespeare_64x4", sparsity: standardL)
    case "standard_fat.shakespeare_64x4": return shakespeare("standardx40.shakespeare_64x4", sparsity: standardL)
    case "multilayer.shakespeare_64x4": return shakespeare("multilayerx8.shakespeare_64x4", sparsity: standardL)
    case "staircase.shakespeare_64x4": return shakespeare("staircasex8.shakespeare_64x4", sparsity: [0.06, 0.24, 0.8, 1.0, 2.5])
    case "jumprelu.shakespeare_64x4": return shakespeare("jumprelu-x8.shakespeare_64x4", sparsity: jumpL, bandwidth: 0.1)
    case "jumprelu-staircase.shakespeare_64x4":
      return shakespeare("jumprelu-staircase-x8.shakespeare_64x4", sparsity: jumpL, bandwidth: 0.1)
    case "end-to-end.shakespeare_64x4":
      return shakespeare("standardx8.shakespeare_64x4", .endToEnd, sparsity: [0.5, 0.8, 0.8, 0.15, 0.8], downstream: 1.0)
    case "e2e.jumprelu.shakespeare_64x4":
      var c = shakespeare("jumprelu-x16.shakespeare_64x4", .endToEnd, sparsity: [0.01, 0.00001, 0.005, 0.01, 0.005],
                          downstream: 1.0, bandwidth: 0.1)
      c.maxSteps = 10_000
      c.minLR = 1e-5
      return c
    case "regularized.shakespeare_64x4":
      return shakespeare("standardx8.shakespeare_64x4", .regularization, sparsity: [0.02, 0.035, 0.085, 0.07, 0.075],
                         regularization: 3.0)
    case "standard.tiny_32x4":
      return SAETrainingConfig(name: name, saeConfig: "standardx16.tiny_32x4", dataDir: "data/tiny_stories_10m",
                               gradientAccumulationSteps: 2, warmupSteps: 0, maxSteps: 5000,
                               lossCoefficients: SAELossCoefficients(sparsity: [0.06, 0.06, 0.1, 0.1, 0.1]))
    case "jumprelu.stories_256x4":
      return SAETrainingConfig(name: name, saeConfig: "jumprelu-x32.stories_256x4", dataDir: "data/tiny_stories",
                               batchSize: 256, gradientAccumulationSteps: 8, warmupSteps: 0, maxSteps: 5000,
                               lossCoefficients: SAELossCoefficients(sparsity: [0.05, 0.1, 0.2, 0.4, 2.0], bandwidth: 0.1))
    case "e2e.jumprelu.stories_256x4":
      return SAETrainingConfig(name: name, saeConfig: "jumprelu-x32.stories_256x4", trainer: .endToEnd, dataDir: "data/tiny_stories",
                               batchSize: 64, gradientAccumulationSteps: 32, warmupSteps: 0, maxSteps: 5000,
                               lossCoefficients: SAELossCoefficients(sparsity: [0.002, 0.1, 0.16, 0.005, 0.005],
                                                                     downstream: 1.0, bandwidth: 0.1))
    default: return nil
    }
  }
}
