import Autograd
import Foundation
import GPT
import Tensor
import Testing
import TestSupport

/// The GPT against the PyTorch reference's own files: the fixture checkpoint fx_gpt_64x4 evaluates to its
/// goldens, and the files we write have exactly the reference's tensor names, dtypes, shapes and metadata
/// (../shared/docs/reference-checkpoint-listing.txt).
@Suite struct GPTReferenceTests {
  static let fixture = "fixtures/reference/checkpoints/fx_gpt_64x4"
  static let golden = "fixtures/reference/golden/fx_gpt_64x4.json"
  static let corpus = "data/tinyshakespeare/input.txt"
  static let listing = "docs/reference-checkpoint-listing.txt"

  /// The val split of the classic corpus as spec section 1 prepares it (90 % of the characters rounded down to
  /// a multiple of 256 go to train; ASCII ids). GPTTests depends on GPT only, so this mirrors the Training
  /// module's preparation (which TrainingTests checks against the spec's token counts).
  static func classicValTokens() throws -> [Int32] {
    let text = try String(contentsOf: try SharedData.require(corpus), encoding: .utf8)
    let scalars = Array(text.unicodeScalars)
    let trainLength = Int(Double(scalars.count) * 0.9) / 256 * 256
    var val = String.UnicodeScalarView()
    val.append(contentsOf: scalars[trainLength...])
    return ASCIITokenizer().encode(String(val))
  }

  /// Mean over `batches` consecutive [b, 128] windows from the start of `tokens` (the loader after reset).
  static func meanLoss(_ model: GPT, _ tokens: [Int32], batch b: Int, batches: Int) throws -> Double {
    let t = 128
    var total = 0.0
    try withNoGrad {
      for i in 0..<batches {
        let window = Array(tokens[(i * b * t)...(i * b * t + b * t)])
        let x = IntTensor(shape: [b, t], scalars: Array(window.dropLast()))
        let y = IntTensor(shape: [b, t], scalars: Array(window.dropFirst()))
        total += Double(try model.loss(x, targets: y).value.scalar)
      }
    }
    return total / Double(batches)
  }

  @Test(SharedData.needs(fixture), SharedData.needs(golden), SharedData.needs(corpus))
  func fixtureEvaluatesToGoldens() throws {
    let model = try GPTCheckpoint.load(from: try SharedData.require(Self.fixture))
    let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: try SharedData.require(Self.golden))) as! [String: Any]
    let val = try Self.classicValTokens()
    #expect(val.count == 111_618)

    let loss32 = try Self.meanLoss(model, val, batch: 32, batches: 10)
    let loss8 = try Self.meanLoss(model, val, batch: 8, batches: 3)
    let gold32 = try #require(golden["ce_loss_batch32_batches10"] as? Double)
    let gold8 = try #require(golden["ce_loss_batch8_batches3"] as? Double)
    #expect(abs(loss32 - gold32) <= 1e-4, "val loss 10×32: \(loss32) vs golden \(gold32)")
    #expect(abs(loss8 - gold8) <= 1e-4, "val loss 3×8: \(loss8) vs golden \(gold8)")

    let logits = try withNoGrad { try model(IntTensor(shape: [1, 128], scalars: Array(val[0..<128]))).value }  // [1, 128, V]
    let v = model.config.vocabSize
    let last = Array(logits.scalars[(127 * v)..<(128 * v)])
    let top5 = last.indices.sorted { last[$0] > last[$1] }.prefix(5)
    let goldTop5 = try #require(golden["first_val_row_last_position_top5_logits"] as? [[Double]])
    #expect(top5.map { $0 } == goldTop5.map { Int($0[0]) }, "top-5 token ids")
    var worst = 0.0
    for (id, pair) in zip(top5, goldTop5) { worst = max(worst, abs(Double(last[id]) - pair[1])) }
    #expect(worst <= 1e-4, "top-5 logits differ by up to \(worst)")
    print(String(format: "fx_gpt_64x4: |Δ loss 10×32| %.2e, |Δ loss 3×8| %.2e, max |Δ top-5 logit| %.2e",
                 abs(loss32 - gold32), abs(loss8 - gold8), worst))
  }

  /// Loading the reference's file and saving it again reproduces the file byte for byte.
  @Test(SharedData.needs(fixture))
  func fixtureResavesByteForByte() throws {
    let source = try SharedData.require(Self.fixture)
    let model = try GPTCheckpoint.load(from: source)
    let dir = try GPTTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try GPTCheckpoint.save(model, to: dir)
    for file in [GPTCheckpoint.weightsFile, GPTCheckpoint.configFile] {
      let ours = try Data(contentsOf: dir.appendingPathComponent(file))
      let theirs = try Data(contentsOf: source.appendingPathComponent(file))
      #expect(ours == theirs, "\(file): \(ours.count) bytes written, the reference's has \(theirs.count)")
    }
  }

  /// The reference's tensors of a listing section, with block 0's names repeated for every block.
  static func expectedTensors(_ file: ReferenceListing.File, layers: Int) -> [String: (dtype: String, shape: [Int])] {
    var out: [String: (dtype: String, shape: [Int])] = [:]
    for (name, entry) in file.tensors {
      if name.hasPrefix("transformer.h.0.") {
        for i in 0..<layers { out["transformer.h.\(i)." + name.dropFirst("transformer.h.0.".count)] = entry }
      } else {
        out[name] = entry
      }
    }
    return out
  }

  @Test(SharedData.needs(listing), arguments: zip(["gpt_ascii_64x4", "gpt_ascii_64x4_dyt"], ["ascii_64x4", "ascii_64x4_dyt"]))
  func writtenFilesMatchTheListing(section: String, preset: String) throws {
    let listing = try ReferenceListing(contentsOf: try SharedData.require(Self.listing))
    let entry = try #require(listing.sections[section], "no section \(section) in the listing")
    let reference = try #require(entry.files["model.safetensors"])
    let config = try #require(GPTConfig.preset(preset))
    let model = try GPT(config: config, seed: 3)
    let dir = try GPTTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try GPTCheckpoint.save(model, to: dir)

    let header = try SafeTensorsHeader(contentsOf: dir.appendingPathComponent("model.safetensors"))
    let expected = Self.expectedTensors(reference, layers: config.nLayer)
    #expect(header.tensors.keys.sorted() == expected.keys.sorted())
    for (name, want) in expected {
      let got = header.tensors[name]
      #expect(got?.dtype == want.dtype && got?.shape == want.shape,
              "\(name): wrote \(String(describing: got)), the reference has \(want)")
    }
    #expect(header.metadata == ["transformer.wte.weight": "lm_head.weight"])
    #expect(reference.metadata == "{'transformer.wte.weight': 'lm_head.weight'}")
    let json = try String(contentsOf: dir.appendingPathComponent("model.json"), encoding: .utf8)
    #expect(json == entry.configs["model.json"], "model.json: \(json)")
  }
}
