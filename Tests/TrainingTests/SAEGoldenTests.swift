import Foundation
import GPT
import SAE
import Tensor
import Testing
import TestSupport
import Training

/// Every SAE fixture the PyTorch reference wrote (../shared/fixtures/reference/checkpoints) evaluates, with
/// `SparsifiedEvaluation` on the classic corpus's val split (loader reset, 10 batches of 32 × 128), to the
/// goldens the reference computed (golden/<name>.json): L0 to 1e-3 relative; ce_loss, the CE increases and
/// the compound CE increase to 2e-4 absolute; the JSAE's Jacobian sparsity (`jacobian_l1/i`, spec section 8,
/// summed over each batch's tokens) to 1e-4 relative.
/// Lives in TrainingTests because it needs the Training module's preparation, loader and evaluation.
@Suite struct SAEGoldenTests {
  static let names = ["fx_trans_block_topk", "fx_trans_block_staircase", "fx_ff_layer_jsae", "fx_ff_block_staircase"]
  static let checkpoints = "fixtures/reference/checkpoints"
  static let goldens = "fixtures/reference/golden"

  @Test(SharedData.needs(checkpoints, goldens, SharedData.corpus), arguments: names)
  func fixtureReproducesItsGoldens(_ name: String) throws {
    let goldenURL = try SharedData.require("\(Self.goldens)/\(name).json")
    let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: goldenURL)) as! [String: Any]
    let metrics = try #require(golden["metrics"] as? [String: Double])
    #expect(golden["batch_size"] as? Int == 32 && golden["batches"] as? Int == 10)

    let model = try SparsifiedGPT.load(from: try SharedData.require("\(Self.checkpoints)/\(name)"))
    #expect(model.keys.map(\.description) == golden["sae_keys"] as? [String])
    var loader = try TokenDataLoader(directory: try SharedData.preparedClassicCorpus(), split: .val, batchSize: 32,
                                     sequenceLength: 128)
    let m = try SparsifiedEvaluation.evaluate(model, loader: &loader, batches: 10)

    var worstCE = 0.0, worstL0 = 0.0
    func checkCE(_ label: String, _ ours: Float?) {
      guard let want = metrics[label] else { Issue.record("\(name): golden has no \(label)"); return }
      guard let ours else { Issue.record("\(name): no value for \(label)"); return }
      let err = abs(Double(ours) - want)
      worstCE = max(worstCE, err)
      #expect(err <= 2e-4, "\(name) \(label): \(ours) vs golden \(want)")
    }
    checkCE("ce_loss", m.ceLoss)
    checkCE("compound_ce_loss_increase", m.compoundCEIncrease)
    // ce_increase/i indexes the SAE keys (transformer block) or the pairs (JSAE, FF block).
    let increaseKeys = model.ceIncreaseKeys
    #expect(increaseKeys.count == metrics.keys.filter { $0.hasPrefix("ce_increase/") }.count, "\(name): number of CE increases")
    for (i, key) in increaseKeys.enumerated() { checkCE("ce_increase/\(i)", m.ceIncrease[key]) }
    for key in model.keys {
      let want = try #require(metrics["l0/\(key)"], "\(name): golden has no l0/\(key)")
      let ours = try #require(m.l0[key])
      let rel = abs(Double(ours) - want) / want
      worstL0 = max(worstL0, rel)
      #expect(rel <= 1e-3, "\(name) l0/\(key): \(ours) vs golden \(want)")
    }
    var worstJ = 0.0
    let jacobianGoldens = metrics.keys.filter { $0.hasPrefix("jacobian_l1/") }
    if !jacobianGoldens.isEmpty {
      #expect(jacobianGoldens.count == increaseKeys.count, "\(name): \(jacobianGoldens.count) Jacobian goldens for \(increaseKeys.count) pairs")
      #expect(m.jacobianL1.count == increaseKeys.count, "\(name): Jacobian sparsity of \(m.jacobianL1.count) pairs")
    } else {
      #expect(m.jacobianL1.isEmpty, "\(name): Jacobian sparsity reported for a model without Jacobian goldens")
    }
    for (i, key) in increaseKeys.enumerated() {
      guard let want = metrics["jacobian_l1/\(i)"] else { continue }
      let ours = try #require(m.jacobianL1[key], "\(name): no Jacobian sparsity for \(key)")
      let rel = abs(Double(ours) - want) / want
      worstJ = max(worstJ, rel)
      #expect(rel <= 1e-4, "\(name) jacobian_l1/\(i): \(ours) vs golden \(want)")
    }
    // Every golden metric is one of the kinds above.
    let known = ["ce_loss", "compound_ce_loss_increase", "reference_reported_compound"]
    for label in metrics.keys where !known.contains(label) {
      #expect(["l0/", "ce_increase/", "jacobian_l1/"].contains { label.hasPrefix($0) }, "\(name): unchecked golden \(label)")
    }
    print(String(format: "%@: max |Δ CE| %.2e, max L0 relative error %.2e, max Jacobian L1 relative error %.2e", name, worstCE, worstL0, worstJ))
  }
}
