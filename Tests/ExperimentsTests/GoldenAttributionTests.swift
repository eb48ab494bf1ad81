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

  /// The transformer-block staircase fixture, whose pairs have unequal sizes (512 → 1024 … 2048 → 2560),
  /// against the reference attributor's output on the same settings, summarised in
  /// Tests/Fixtures/ig_fx_trans_block_staircase_summary.safetensors (made by make_ig_staircase_golden.py: the
  /// full matrices are 42 MB): per key the shape, the row and column norms, 2048 entries (the 1024 largest
  /// and 1024 random nonzero ones) within 1e-4 relative Frobenius error (measured ≈ 2e-7), and the number of exact zeros.
  @Test(SharedData.needs(SharedData.corpus, "\(SharedData.reference)/checkpoints/fx_trans_block_staircase"))
  func transformerBlockStaircaseMatchesReferenceSummary() throws {
    let summaryURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../Fixtures/ig_fx_trans_block_staircase_summary.safetensors").standardizedFileURL
    let summary = try SafeTensors.read(contentsOf: summaryURL)
    #expect(summary.metadata["model_name"] == "fx_trans_block_staircase" && summary.metadata["steps"] == "2"
            && summary.metadata["batch_size"] == "2" && summary.metadata["num_batches"] == "1")
    let model = try SparsifiedGPT.load(from: try SharedData.checkpoint("fx_trans_block_staircase"))
    var loader = try TokenDataLoader(directory: try SharedData.preparedClassicCorpus(), split: .val, batchSize: 2,
                                     sequenceLength: model.gpt.config.blockSize)
    let got = try IntegratedGradientsAttributor(model: model, steps: 2).run(loader: &loader, batches: 1)
    let keys = ["0-1", "1-2", "2-3", "3-4"]
    #expect(got.keys.sorted() == keys)
    for key in keys {
      let value = try #require(got[key], "missing key \(key)")
      let shape = try #require(summary.intTensors["\(key).shape"]).scalars.map(Int.init)
      #expect(value.shape == shape, "\(key): shape \(value.shape), reference \(shape)")
      guard value.shape == shape else { continue }
      let rows = (value * value).sum(axis: 1).map { $0.squareRoot() }, cols = (value * value).sum(axis: 0).map { $0.squareRoot() }
      let rowErr = relativeFrobenius(rows, try #require(summary.tensors["\(key).row_norms"]))
      let colErr = relativeFrobenius(cols, try #require(summary.tensors["\(key).col_norms"]))
      let index = try #require(summary.intTensors["\(key).index"]).scalars.map(Int.init)
      let expected = try #require(summary.tensors["\(key).value"])
      let all = value.scalars
      let sampled = Tensor(shape: [index.count], scalars: index.map { all[$0] })
      let entryErr = relativeFrobenius(sampled, expected)
      let zeros = all.filter { $0 == 0 }.count
      let expectedZeros = Int(try #require(summary.intTensors["\(key).zeros"]).scalars[0])
      print(String(format: "staircase IG %@: relative Frobenius error of row norms %.2e, column norms %.2e, %d sampled entries %.2e; zeros %d (reference %d)",
                   key, rowErr, colErr, index.count, entryErr, zeros, expectedZeros))
      #expect(rowErr < 1e-4 && colErr < 1e-4, "\(key): row norms \(rowErr), column norms \(colErr)")
      #expect(entryErr < 1e-4, "\(key): sampled entries \(entryErr)")
      #expect(zeros == expectedZeros, "\(key): \(zeros) zero attributions, reference \(expectedZeros)")
    }
  }
}
