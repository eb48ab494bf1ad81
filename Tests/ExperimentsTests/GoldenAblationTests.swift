import Autograd
import Foundation
import SAE
import Tensor
import Testing
import TestSupport
@testable import Experiments

/// Edge ablation of the reference fixtures with the golden IG attributions (upstream layer 1, the first 4
/// val rows of 128 tokens): mean KL(full model ‖ pruned) per N within 1e-3 of the reference's.
@Suite struct GoldenAblationTests {
  static let names = ["fx_trans_block_topk", "fx_ff_layer_jsae", "fx_ff_block_staircase"]

  @Test(SharedData.needs(SharedData.corpus, SharedData.reference), arguments: names)
  func meanKLMatchesGolden(name: String) throws {
    let golden = try #require(JSONSerialization.jsonObject(
      with: Data(contentsOf: try SharedData.require("\(SharedData.reference)/golden/ablation_\(name).json"))) as? [String: Any])
    let expected = try #require(golden["kl_full_model_mean"] as? [String: Double])
    let layer = try #require(golden["layer"] as? Int), prompts = try #require(golden["prompts"] as? Int)
    let model = try SparsifiedGPT.load(from: try SharedData.checkpoint(name))
    let attributions = try AttributionFile.read(try SharedData.require("\(SharedData.reference)/golden/ig_\(name).safetensors"))
    let pair = try CircuitPair(model: model, layer: layer)
    let matrix = try AttributionFile.matrix(attributions.tensors, for: pair, source: name)
    #expect(matrix.scalars.filter { $0 > 0 }.count == golden["positive_edges"] as? Int)
    let order = try EdgeRanking.byAttribution(matrix, seed: 125)
    let tokens = try PromptRows.load(dataDirectory: try SharedData.preparedClassicCorpus(), count: prompts, length: 128)
    let clean = try withNoGrad { try model.gpt(tokens).value }
    let ablation = try PairAblation(pair: pair, prompts: tokens, cleanLogits: clean)
    let counts = expected.keys.compactMap(Int.init).sorted()
    var got: [Int: Float] = [:]
    try ablation.sweep(order: order, counts: counts) { got[$0.edges] = $0.klFullModelMean }
    for n in counts {
      let e = expected[String(n)]!, g = Double(got[n]!)
      #expect(Swift.abs(g - e) <= 1e-3 * Swift.abs(e), "\(name) N \(n): \(g) vs golden \(e)")
    }
  }
}
