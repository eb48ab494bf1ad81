import Foundation
import SAE
import Tensor
import Testing
import TestSupport
import Training
@testable import Experiments

/// IG attributions of the reference fixtures against the reference attributor's goldens (steps 2, one batch
/// of 2 val sequences, loader reset): every key within 1e-3 relative Frobenius error.
@Suite struct GoldenAttributionTests {
  static let names = ["fx_trans_block_topk", "fx_ff_layer_jsae", "fx_ff_block_staircase"]

  @Test(SharedData.needs(SharedData.corpus, SharedData.reference), arguments: names)
  func integratedGradientsMatchGolden(name: String) throws {
    let dir = try SharedData.checkpoint(name)
    let golden = try AttributionFile.read(try SharedData.require("\(SharedData.reference)/golden/ig_\(name).safetensors"))
    let model = try SparsifiedGPT.load(from: dir)
    var loader = try TokenDataLoader(directory: try SharedData.preparedClassicCorpus(), split: .val, batchSize: 2,
                                     sequenceLength: model.gpt.config.blockSize)
    let attributor = try IntegratedGradientsAttributor(model: model, steps: 2)
    let got = try attributor.run(loader: &loader, batches: 1)
    #expect(Set(got.keys) == Set(golden.tensors.keys))
    for (key, expected) in golden.tensors {
      let value = try #require(got[key], "missing key \(key)")
      #expect(value.shape == expected.shape)
      let err = relativeFrobenius(value, expected)
      #expect(err < 1e-3, "\(name) \(key): relative Frobenius error \(err)")
      // The zero pattern (targets never active) is the reference's.
      let zerosGot = value.scalars.filter { $0 == 0 }.count, zerosExpected = expected.scalars.filter { $0 == 0 }.count
      #expect(zerosGot == zerosExpected, "\(name) \(key): \(zerosGot) zero attributions, golden has \(zerosExpected)")
    }
    #expect(golden.metadata["attribution_method"] == "ig" && golden.metadata["steps"] == "2")
  }
}
