import Autograd
import Foundation
import GPT
import Tensor
import Testing

/// Small models, inputs and file helpers shared by the GPT suites.
enum GPTTestSupport {
  /// A tiny LayerNorm model (2 layers, 2 heads, C 8, block 16, V 40).
  static let tiny = GPTConfig(blockSize: 16, vocabSize: 40, nLayer: 2, nHead: 2, nEmbd: 8)

  /// A model of `config` whose every parameter is the seeded init plus N(0, `scale`) noise, so that biases and
  /// norm parameters are not at their trivial init and logits are far from uniform.
  static func perturbedModel(_ config: GPTConfig = tiny, seed: UInt64 = 1, scale: Float = 0.2) throws -> GPT {
    let model = try GPT(config: config, seed: seed)
    var g = RandomGenerator(seed: seed &+ 1000)
    for p in model.parameters {
      p.assign(p.value + Tensor.normal(p.shape, std: scale, generator: &g))
    }
    return model
  }

  /// Seeded token ids [b, t] below `vocab`.
  static func tokens(_ b: Int, _ t: Int, vocab: Int, seed: UInt64 = 7) -> IntTensor {
    var g = RandomGenerator(seed: seed)
    return IntTensor(shape: [b, t], scalars: (0..<(b * t)).map { _ in Int32(g.nextInt(below: vocab)) })
  }

  /// A fresh temporary directory (removed by the caller).
  static func temporaryDirectory(_ label: String = "gpt") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The description of the error `body` throws, or nil when it does not throw.
  static func errorMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
  }

  /// Largest absolute difference between two tensors of the same shape.
  static func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
    return a.maxAbsDifference(b)
  }

  /// True when every parameter of `a` equals the same-named parameter of `b` bit for bit.
  static func bitEqual(_ a: GPT, _ b: GPT) -> Bool {
    let pa = a.namedParameters, pb = b.namedParameters
    guard pa.map(\.0) == pb.map(\.0) else { return false }
    return zip(pa, pb).allSatisfy { x, y in
      x.1.shape == y.1.shape && x.1.value.scalars.map(\.bitPattern) == y.1.value.scalars.map(\.bitPattern)
    }
  }
}

/// The header of a safetensors file as stored: tensor name → (dtype, shape), and `__metadata__`.
struct SafeTensorsHeader {
  var tensors: [String: (dtype: String, shape: [Int])] = [:]
  var metadata: [String: String]?

  init(contentsOf url: URL) throws {
    let data = try Data(contentsOf: url)
    let n = data.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
    let json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
    for (name, value) in json {
      let entry = value as! [String: Any]
      if name == "__metadata__" {
        metadata = entry as? [String: String]
      } else {
        tensors[name] = (entry["dtype"] as! String, (entry["shape"] as! [Any]).map { ($0 as! NSNumber).intValue })
      }
    }
  }
}

/// `reference-checkpoint-listing.txt`: per section, the config JSON lines and each file's tensors.
struct ReferenceListing {
  struct File {
    var metadata: String?
    var tensors: [String: (dtype: String, shape: [Int])] = [:]
  }
  struct Section {
    /// "model.json" / "sae.json" → the JSON text as listed.
    var configs: [String: String] = [:]
    var files: [String: File] = [:]
  }
  var sections: [String: Section] = [:]

  init(contentsOf url: URL) throws {
    var current: String?
    var file: String?
    for raw in try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
      let line = String(raw)
      if line.hasPrefix("#") || line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
      if line.hasPrefix("== ") {
        current = String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces)
        sections[current!] = Section()
        file = nil
        continue
      }
      guard let section = current else { continue }
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      let indent = line.prefix { $0 == " " }.count
      if indent <= 2 {
        if let colon = trimmed.range(of: ".json: ") {
          sections[section]!.configs[String(trimmed[..<colon.lowerBound]) + ".json"] = String(trimmed[colon.upperBound...])
          continue
        }
        let parts = trimmed.components(separatedBy: "  ").filter { !$0.isEmpty }
        file = parts[0].trimmingCharacters(in: .whitespaces)
        var entry = File()
        if parts.count > 1, let eq = parts[1].range(of: "__metadata__=") { entry.metadata = String(parts[1][eq.upperBound...]) }
        sections[section]!.files[file!] = entry
      } else if let f = file {
        let fields = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        let shapeText = fields[2].trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
        let shape = shapeText.isEmpty ? [] : shapeText.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
        sections[section]!.files[f]!.tensors[String(fields[0])] = (String(fields[1]), shape)
      }
    }
  }
}
