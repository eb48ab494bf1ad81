import Autograd
import Foundation
import Tensor

extension GPT {
  /// Continues `prompt` by `count` sampled tokens: each step feeds the last `block_size` tokens, takes the
  /// last position's logits / temperature, optionally keeps the `topK` largest, and samples from the softmax
  /// with `generator` (temperature 0 = greedy).
  public func generate(prompt: [Int32], count: Int, temperature: Float = 1, topK: Int? = nil,
                       generator: inout RandomGenerator) throws -> [Int32] {
    guard !prompt.isEmpty else { throw GPTError("generation needs a non-empty prompt") }
    guard temperature >= 0 else { throw GPTError("temperature must be ≥ 0, got \(temperature)") }
    var tokens = prompt
    try withNoGrad {
      for _ in 0..<count {
        let context = Array(tokens.suffix(config.blockSize))
        let logits = try self(IntTensor(shape: [1, context.count], scalars: context)).value  // [1, T, V]
        let v = config.vocabSize
        var last = logits.reshaped([context.count, v]).slice(axis: 0, (context.count - 1)..<context.count).scalars
        if temperature == 0 {
          let best = last.indices.max { last[$0] < last[$1] }!
          tokens.append(Int32(best))
          continue
        }
        for i in last.indices { last[i] /= temperature }
        if let k = topK, k < v {
          let threshold = last.sorted(by: >)[Swift.max(k, 1) - 1]
          for i in last.indices where last[i] < threshold { last[i] = -.infinity }
        }
        let probs = Tensor(last).softmax().scalars
        let u = generator.nextUniform()
        var acc: Float = 0
        var pick = probs.count - 1
        for (i, p) in probs.enumerated() {
          acc += p
          if u < acc { pick = i; break }
        }
        tokens.append(Int32(pick))
      }
    }
    return Array(tokens.dropFirst(prompt.count))
  }
}
