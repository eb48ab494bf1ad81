import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

@Suite struct E2EScratch {
  @Test func fdProbe() throws {
    let w = try SAETrainingWorkspace()
    for (sp, ds) in [([Float](repeating: 0, count: 5), Float(0)), ([0.05, 0.1, 0.02, 0.3, 0.2], 0), ([0, 0, 0, 0, 0], 0.7)] {
      var c = w.config(TestDenseSAEModels.standard, name: "p", sparsity: sp)
      c.trainer = .endToEnd
      c.lossCoefficients.downstream = ds
      let t = try EndToEndSAETrainer(config: c, loadFrom: w.gptDirectory, checkpointsDirectory: w.checkpoints, seed: 3, echo: false)
      var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 1, sequenceLength: 128)
      let x = try loader.nextBatch().0
      for index in [0, 2] {
        let sae = t.model.orderedSAEs[index]
        for pname in ["b_dec", "b_enc"] {
        let bias = sae.namedParameters.first { $0.0 == pname }!.1
        bias.zeroGrad()
        let clean = try t.cleanBatch(x)
        try t.loss(of: sae, clean: clean).backward()
        let grad = bias.grad!
        var g = RandomGenerator(seed: 8)
        let direction = Tensor(shape: bias.shape, scalars: (0..<bias.value.count).map { _ in g.nextUniform() - 0.5 })
        let original = bias.value
        func lossAt(_ s: Float) throws -> Double {
          bias.assign(original + direction.scaled(s))
          return Double(try withNoGrad { try t.loss(of: sae, clean: clean) }.value.scalar)
        }
        let analytic = zip(grad.scalars, direction.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        var s = "sp \(sp[0]) ds \(ds) SAE \(index) \(pname) analytic \(analytic):"
        for h: Float in [5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3] {
          let fd = (try lossAt(h) - lossAt(-h)) / Double(2 * h)
          s += " h\(h)=\(fd)"
        }
        bias.assign(original)
        print(s)
        }
      }
    }
  }
}
