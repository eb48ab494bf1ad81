import Autograd
import Foundation
@testable import GPT
import Tensor
import Testing

/// `Block.inference`, the cache-blocked forward that no-gradient passes take, against the operations of the
/// differentiable forward of the same block (kept by a hook that may edit): every inner activation and the output, bit for
/// bit, at the shakespeare_64x4 shapes (C 64, 4 heads, T 128) with batches that split into uneven work items,
/// and the dispatch rules of `Block.callAsFunction`.
@Suite struct BlockInferenceTests {
  static let config = GPTConfig(blockSize: 128, vocabSize: 128, nLayer: 2, nHead: 4, nEmbd: 64)

  /// The four inner points and the output through the differentiable path's operations without gradients
  /// (a hook that may edit keeps that path; with gradients on, GELU takes its derivative-saving form, whose
  /// rounding differs in the last bit).
  static func differentiable(_ block: Block, _ x: Tensor) -> [HookPoint: Tensor] {
    let hook = Recorder(editable: true)
    _ = withNoGrad { block(Variable(x), hook: hook) }
    return hook.values
  }

  @Test(arguments: [1, 3, 5])
  func matchesTheDifferentiableForwardBitForBit(batch: Int) throws {
    let gpt = try GPTTestSupport.perturbedModel(Self.config, seed: 3, scale: 0.1)
    var g = RandomGenerator(seed: UInt64(batch))
    let x = Tensor.normal([batch, 128, 64], generator: &g)
    for block in gpt.blocks {
      let want = Self.differentiable(block, x)
      let got = block.inference(x, keepResidMid: true, keepMLPIn: true, keepMLPOut: true)
      #expect(got.residMid == want[.residmid], "layer \(block.layer) resid_mid")
      #expect(got.mlpIn == want[.mlpin], "layer \(block.layer) mlp_in")
      #expect(got.mlpOut == want[.mlpout], "layer \(block.layer) mlp_out")
      #expect(got.output == want[.residpost], "layer \(block.layer) output")
      // Without the internals: the same output.
      #expect(block.inference(x).output == got.output)
    }
  }

  @Test func shortSequencesAndOddBatches() throws {
    let gpt = try GPTTestSupport.perturbedModel(Self.config, seed: 4, scale: 0.1)
    var g = RandomGenerator(seed: 9)
    for (b, t) in [(7, 5), (1, 1), (2, 33), (300, 2)] {
      let x = Tensor.normal([b, t, 64], generator: &g)
      let block = gpt.blocks[1]
      #expect(block.inference(x, keepResidMid: true).output == Self.differentiable(block, x)[.residpost], "B \(b), T \(t)")
    }
  }

  @Test func dispatch() throws {
    let gpt = try GPTTestSupport.perturbedModel(Self.config, seed: 5, scale: 0.1)
    let block = gpt.blocks[0]
    var g = RandomGenerator(seed: 10)
    let x = Tensor.normal([2, 16, 64], generator: &g)
    // Parameters that need gradients with gradients on: the differentiable path.
    #expect(!block.canRunInference(Variable(x), hook: nil))
    #expect(withNoGrad { block.canRunInference(Variable(x), hook: nil) })
    // A hook that may edit an inner point keeps the differentiable path; one that observes does not.
    #expect(!withNoGrad { block.canRunInference(Variable(x), hook: Recorder(editable: true)) })
    #expect(withNoGrad { block.canRunInference(Variable(x), hook: Recorder(editable: false)) })
    // Frozen parameters: no graph is needed, whatever the mode.
    gpt.setRequiresGrad(false)
    #expect(block.canRunInference(Variable(x), hook: nil))
    #expect(!block.canRunInference(Variable(x, requiresGrad: true), hook: nil))
    // The observing hook sees every inner point, equal to the differentiable path's values.
    let hook = Recorder(editable: false)
    let y = withNoGrad { block(Variable(x), hook: hook) }
    #expect(!y.requiresGrad)
    gpt.setRequiresGrad(true)
    let want = Self.differentiable(block, x)
    for point in Block.innerPoints { #expect(hook.values[point] == want[point], "\(point)") }
    #expect(hook.order == Block.innerPoints)
  }

  @Test func dynamicTanhBlocksKeepTheDifferentiablePath() throws {
    var config = Self.config
    config.normStrategy = .dynamicTanh
    let gpt = try GPT(config: config, seed: 1)
    #expect(!gpt.blocks[0].supportsInference)
    #expect(!withNoGrad { gpt.blocks[0].canRunInference(Variable(Tensor(zeros: [1, 4, 64])), hook: nil) })
  }

  /// Records the inner points of one block in arrival order; edits nothing, but says it may when `editable`.
  final class Recorder: GPTHook {
    let editable: Bool
    var values: [HookPoint: Tensor] = [:]
    var order: [HookPoint] = []
    init(editable: Bool) { self.editable = editable }
    func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
      values[point] = x.value
      order.append(point)
      return x
    }
    func mayEdit(_ point: HookPoint, layer: Int) -> Bool { editable }
  }
}
