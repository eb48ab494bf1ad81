import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Experiments

func temporaryDirectory(_ label: String) throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// Attribution and ablation result files: names, contents, metadata, atomic writes, errors.
@Suite struct ExperimentFilesTests {
  @Test func attributionMetadataMatchesReference() {
    let ig = AttributionMetadata(modelName: "topk.shakespeare_64x4", method: .integratedGradients, batchSize: 24,
                                 numBatches: 24, steps: 4)
    #expect(ig.dictionary == ["model_name": "topk.shakespeare_64x4", "attribution_method": "ig", "batch_size": "24",
                              "num_batches": "24", "steps": "4", "epsilon": "N/A"])
    let ma = AttributionMetadata(modelName: "m", method: .manualAblation, batchSize: 2, numBatches: 3, epsilon: 0)
    #expect(ma.dictionary["steps"] == "N/A" && ma.dictionary["epsilon"] == "0.0" && ma.dictionary["attribution_method"] == "ma")
    #expect(AttributionMetadata.pythonFloat(1e-5) == "1e-05")
    #expect(AttributionMetadata.pythonFloat(0.001) == "0.001")
    #expect(AttributionMetadata.pythonFloat(2) == "2.0")
    #expect(AttributionMetadata.pythonFloat(0.25) == "0.25")
  }

  @Test func attributionFileRoundTripAndErrors() throws {
    let dir = try temporaryDirectory("attr")
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = try TestModels.ffLayer(seed: 2)
    let pair = try CircuitPair(model: model, layer: 1)
    var g = RandomGenerator(seed: 5)
    let m = Tensor.uniform([16, 24], generator: &g)
    let url = dir.appendingPathComponent("a.safetensors")
    let meta = AttributionMetadata(modelName: "x", method: .integratedGradients, batchSize: 1, numBatches: 1, steps: 2)
    try AttributionFile.write(["MLP_1": m], metadata: meta, to: url)
    let back = try AttributionFile.read(url)
    #expect(back.tensors["MLP_1"] == m && back.metadata == meta.dictionary)
    #expect(try AttributionFile.matrix(back.tensors, for: pair, source: "a") == m)
    // No temporary files left beside it.
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.safetensors"])
    var errors: [String] = []
    for tensors in [["MLP_0": m], ["MLP_1": Tensor(zeros: [24, 16])], ["MLP_1": Tensor(shape: [16, 24], repeating: .nan)]] {
      do { _ = try AttributionFile.matrix(tensors, for: pair, source: "f.safetensors"); Issue.record("accepted \(tensors.keys)") }
      catch let e as ExperimentError { errors.append(e.description) }
    }
    #expect(errors.count == 3 && errors.allSatisfy { !$0.contains("\n") && $0.contains("f.safetensors") })
    #expect(errors[0].contains("MLP_1") && errors[1].contains("[24, 16]") && errors[2].contains("NaN"))
    #expect(throws: ExperimentError.self) { try AttributionFile.write(["v": Tensor([1, 2])], metadata: meta, to: url) }
  }

  func point(prompts: Int = 2, length: Int = 3, features: Int = 6, vocab: Int = 5) -> AblationPoint {
    var g = RandomGenerator(seed: 4)
    var mags = Tensor(zeros: [prompts, length, features])
    let p = mags.unsafeMutablePointer()
    for r in 0..<(prompts * length) { p[r * features + (r % features)] = Float(r + 1); if r % 2 == 0 { p[r * features + 5] = -0.5 } }
    return AblationPoint(layer: 2, edges: 181, magnitudes: mags,
                         logits: Tensor.normal([prompts, length, vocab], generator: &g),
                         klFullModel: Tensor.uniform([prompts, length], generator: &g),
                         klCircuit: Tensor.uniform([prompts, length], generator: &g),
                         usedUnprunedMagnitudes: false, seconds: 0.5)
  }

  @Test func resultFileNamesAndLayouts() throws {
    let dir = try temporaryDirectory("ablate")
    defer { try? FileManager.default.removeItem(at: dir) }
    let stem = AblationResultFile.stem(placement: "transblock", variant: "topk", selection: .gradient, layer: 2, edges: 181)
    #expect(stem == "transblock_topk_gradient_2_181")
    let pt = point()
    let url = try AblationResultFile.write(pt, stem: stem, directory: dir, layout: .compact,
                                           metadata: AblationMetadata(experimentParams: .init(numEdges: 181, randomSeed: 125)))
    #expect(url.lastPathComponent == "transblock_topk_gradient_2_181.safetensors")
    let names = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
    #expect(names == ["transblock_topk_gradient_2_181.safetensors", "transblock_topk_gradient_2_181.safetensors.metadata.json"])
    let file = try SafeTensors.read(contentsOf: url)
    #expect(file.tensors["kl_divergence"] == pt.klCircuit && file.tensors["kl_divergence_full_model"] == pt.klFullModel)
    // Compact: W = 2 nonzeros at most per position, ids padded with −1; logits of the last position.
    let values = try #require(file.tensors["feature_magnitudes"]), ids = try #require(file.intTensors["feature_indices"])
    #expect(values.shape == [2, 3, 2] && ids.shape == [2, 3, 2])
    #expect(ids[0, 0, 0] == 0 && ids[0, 0, 1] == 5 && values[0, 0, 0] == 1 && values[0, 0, 1] == -0.5)
    #expect(ids[0, 1, 0] == 1 && ids[0, 1, 1] == -1 && values[0, 1, 1] == 0)
    #expect(file.tensors["logits"] == pt.logits.slice(axis: 1, 2..<3).reshaped([2, 5]))
    let meta = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: AblationResultFile.metadataURL(for: url))) as? [String: Any])
    #expect(meta["experiment_id"] as? String == stem && meta["tensor_layout"] as? String == "compact")
    let params = try #require(meta["experiment_params"] as? [String: Any])
    #expect(params["num_edges"] as? Int == 181 && params["random_seed"] as? Int == 125)
    let results = try #require(meta["results"] as? [String: Any])
    #expect(Swift.abs((results["kl_full_model_mean"] as? Double ?? -1) - Double(pt.klFullModelMean)) < 1e-6)
    #expect(results["used_unpruned_magnitudes"] as? Bool == false)
    // Full: the reference's dense shapes.
    let full = try AblationResultFile.write(pt, stem: stem + "x", directory: dir, layout: .full)
    let f2 = try SafeTensors.read(contentsOf: full)
    #expect(f2.tensors["feature_magnitudes"] == pt.magnitudes && f2.tensors["logits"] == pt.logits && f2.intTensors.isEmpty)
  }

  @Test func inputsParseAndFailWithOneLine() throws {
    #expect(try ExperimentInputs.layers("0, 2,3") == [0, 2, 3])
    var messages: [String] = []
    for bad in ["", "1,1", "a", "-1"] {
      do { _ = try ExperimentInputs.layers(bad); Issue.record("accepted \(bad)") } catch { messages.append("\(error)") }
    }
    let dir = try temporaryDirectory("inputs")
    defer { try? FileManager.default.removeItem(at: dir) }
    do { _ = try ExperimentInputs.checkpoint("nope", checkpointsDirectory: dir); Issue.record("found nope") } catch { messages.append("\(error)") }
    do { _ = try ExperimentInputs.checkpoint(dir.path, checkpointsDirectory: dir); Issue.record("accepted a directory without sae.json") } catch { messages.append("\(error)") }
    // Prompts: too few tokens, no shards.
    try NPY.write(NPYArray(shape: [100], data: .uint16((0..<100).map { UInt16($0 % 7) })), to: dir.appendingPathComponent("val_000000.npy"))
    let rows = try PromptRows.load(dataDirectory: dir, count: 3, length: 32)
    #expect(rows.shape == [3, 32] && rows[2, 31] == Int32(95 % 7))
    do { _ = try PromptRows.load(dataDirectory: dir, count: 4, length: 32); Issue.record("too few tokens accepted") } catch { messages.append("\(error)") }
    let empty = try temporaryDirectory("noshards")
    defer { try? FileManager.default.removeItem(at: empty) }
    do { _ = try PromptRows.load(dataDirectory: empty, count: 1, length: 8); Issue.record("no shards accepted") } catch { messages.append("\(error)") }
    #expect(messages.count == 8)
    for m in messages { #expect(!m.contains("\n") && !m.isEmpty) }
    #expect(throws: SAEError.self) { try CircuitPair(model: try TestModels.ffLayer(seed: 3), layer: 2) }
  }
}
