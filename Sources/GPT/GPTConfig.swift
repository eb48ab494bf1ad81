import Foundation
import Tensor

/// How a block normalises its inputs (the reference's `norm_strategy`).
public enum NormStrategy: String, Codable, Sendable, CaseIterable {
  /// LayerNorm everywhere.
  case layerNorm = "LayerNorm"
  /// DynamicTanh (γ·tanh(α·x) + β) for ln_2; LayerNorm for ln_1 and ln_f.
  case dynamicTanh = "DynamicTanh"
  /// No normalisation.
  case identity = "Identity"
}

/// Architecture of a GPT model: the fields of the reference's `model.json`, plus DynamicTanh's initial α.
public struct GPTConfig: Codable, Equatable, Sendable {
  public var blockSize: Int
  public var vocabSize: Int
  public var nLayer: Int
  public var nHead: Int
  public var nEmbd: Int
  public var normStrategy: NormStrategy
  /// Initial α of DynamicTanh norms (not stored in model.json; the weights' `alpha` carries it).
  public var alphaMLP: Float

  public init(blockSize: Int, vocabSize: Int, nLayer: Int, nHead: Int, nEmbd: Int,
              normStrategy: NormStrategy = .layerNorm, alphaMLP: Float = 2.0) {
    self.blockSize = blockSize
    self.vocabSize = vocabSize
    self.nLayer = nLayer
    self.nHead = nHead
    self.nEmbd = nEmbd
    self.normStrategy = normStrategy
    self.alphaMLP = alphaMLP
  }

  enum CodingKeys: String, CodingKey {
    case blockSize = "block_size", vocabSize = "vocab_size", nLayer = "n_layer", nHead = "n_head"
    case nEmbd = "n_embd", normStrategy = "norm_strategy", alphaMLP = "alpha_mlp"
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    blockSize = try c.decode(Int.self, forKey: .blockSize)
    vocabSize = try c.decode(Int.self, forKey: .vocabSize)
    nLayer = try c.decode(Int.self, forKey: .nLayer)
    nHead = try c.decode(Int.self, forKey: .nHead)
    nEmbd = try c.decode(Int.self, forKey: .nEmbd)
    normStrategy = try c.decodeIfPresent(NormStrategy.self, forKey: .normStrategy) ?? .layerNorm
    alphaMLP = try c.decodeIfPresent(Float.self, forKey: .alphaMLP) ?? 2.0
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(blockSize, forKey: .blockSize)
    try c.encode(vocabSize, forKey: .vocabSize)
    try c.encode(nLayer, forKey: .nLayer)
    try c.encode(nHead, forKey: .nHead)
    try c.encode(nEmbd, forKey: .nEmbd)
    try c.encode(normStrategy, forKey: .normStrategy)
  }

  /// A lower bound of the number of weights (the embeddings and every block's four matrices, 12·n_embd²),
  /// or nil when it overflows `Int`.
  public var minimumWeightCount: Int? {
    func product(_ factors: Int...) -> Int? {
      var p = 1
      for f in factors {
        let (q, overflow) = p.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        p = q
      }
      return p
    }
    var total = 0
    for part in [product(vocabSize, nEmbd), product(blockSize, nEmbd), product(nLayer, 12, nEmbd, nEmbd)] {
      guard let part else { return nil }
      let (sum, overflow) = total.addingReportingOverflow(part)
      if overflow { return nil }
      total = sum
    }
    return total
  }

  /// Throws a one-line error when the dimensions are inconsistent.
  public func validate() throws {
    func fail(_ m: String) -> GPTError { GPTError("invalid GPT config: \(m)") }
    guard blockSize > 0, vocabSize > 0, nLayer > 0, nHead > 0, nEmbd > 0 else {
      throw fail("every dimension must be positive (block_size \(blockSize), vocab_size \(vocabSize), n_layer \(nLayer), n_head \(nHead), n_embd \(nEmbd))")
    }
    guard nEmbd % nHead == 0 else { throw fail("n_embd \(nEmbd) is not divisible by n_head \(nHead)") }
  }
}

/// A one-line error from the GPT module (bad configuration, checkpoint or input).
public struct GPTError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description.onOneLine }
}
