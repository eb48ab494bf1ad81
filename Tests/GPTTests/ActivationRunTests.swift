import Autograd
import Foundation
import GPT
import Tensor
import Testing

/// `GPT.run` and `GPT.activations`: the one way to capture and edit activations by key.
@Suite struct ActivationRunTests {
  static let config = GPTConfig(blockSize: 16, vocabSize: 40, nLayer: 3, nHead: 2, nEmbd: 8)

  static func model() throws -> GPT { try GPTTestSupport.perturbedModel(config) }

  @Test func recordsWhatAHookSeesAndStopsEarly() throws {
    let gpt = try Self.model()
    let tokens = GPTTestSupport.tokens(2, 5, vocab: 40)
    let hook = RecordingHook()
    let logits = try withNoGrad { try gpt(tokens, hook: hook).value }
    let every = Set(hook.seen.compactMap { ActivationKey($0) })
    let full = try withNoGrad { try gpt.run(tokens, record: every) }
    #expect(full.logits?.value == logits)
    for key in every { #expect(full.activations[key]?.value == hook.values[key.description], "\(key)") }
    // Stopping after a key reaches it and everything before it; nothing after the block that reaches it.
    for stop in every.sorted() {
      let partial = try withNoGrad { try gpt.run(tokens, record: every, stopAfter: stop) }
      #expect(partial.logits == nil)
      #expect(partial.activations[stop]?.value == hook.values[stop.description], "stop after \(stop)")
      #expect(partial.activations.keys.allSatisfy { $0 <= stop || ($0.layer == stop.layer && $0.hookPoint != .act) }, "stop after \(stop): \(partial.activations.keys.sorted())")
    }
    let some = [ActivationKey("1_mlpin")!, ActivationKey("0_act")!, ActivationKey("3_act")!]
    let values = try gpt.activations(tokens, at: some)
    for key in some { #expect(values[key] == hook.values[key.description], "\(key)") }
    #expect(throws: GPTError.self) { try gpt.activations(tokens, at: [ActivationKey(layer: 7, hookPoint: .act)]) }
  }

  @Test func replacesAndRecordsBeforeTheEdit() throws {
    let gpt = try Self.model()
    let tokens = GPTTestSupport.tokens(1, 6, vocab: 40)
    let key = ActivationKey(layer: 1, hookPoint: .mlpout)
    let hook = ReplacingHook(.mlpout, layer: 1) { $0 * 0 }
    let expected = try withNoGrad { try gpt(tokens, hook: hook).value }
    let run = try withNoGrad { try gpt.run(tokens, record: [key], replace: [key: { $0 * 0 }]) }
    #expect(run.logits?.value == expected)
    #expect(run.activations[key]?.value.scalars.contains { $0 != 0 } == true)
    // From a residual: the same as the tokens' run from that block on.
    let start = try gpt.activations(tokens, at: [ActivationKey(layer: 1, hookPoint: .act)])[ActivationKey(layer: 1, hookPoint: .act)]!
    let resumed = withNoGrad { gpt.run(residual: Variable(start), startAt: 1, replace: [key: { $0 * 0 }]) }
    #expect(resumed.logits?.value == expected)
  }
}
