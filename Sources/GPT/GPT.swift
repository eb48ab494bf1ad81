import Autograd
import Tensor

/// A GPT-2 style language model (nanoGPT layout): token and position embeddings, pre-norm blocks, a final
/// norm and a head tied to the token embedding. Parameter names equal the PyTorch state-dict names.
public final class GPT: Module {
  public let config: GPTConfig
  /// Token embedding `transformer.wte` [V, C]; also the weight of `lm_head`.
  public let wte: Embedding
  /// Position embedding `transformer.wpe` [block_size, C].
  public let wpe: Embedding
  public let blocks: [Block]
  public let lnF: any Normalization

  /// A freshly initialised model: Linear and Embedding weights N(0, 0.02), `c_proj` weights
  /// N(0, 0.02/√(2·n_layer)), biases zero, norms ones/zeros; drawn from `RandomGenerator(seed:)` in
  /// parameter order.
  public init(config: GPTConfig, seed: UInt64 = 0) throws {
    try config.validate()
    self.config = config
    var g = RandomGenerator(seed: seed)
    wte = Embedding(count: config.vocabSize, dimension: config.nEmbd, generator: &g)
    wpe = Embedding(count: config.blockSize, dimension: config.nEmbd, generator: &g)
    blocks = (0..<config.nLayer).map { Block(config: config, layer: $0, generator: &g) }
    lnF = config.normStrategy == .identity ? IdentityNorm() : LayerNorm(dimension: config.nEmbd)
  }

  /// Ordered as PyTorch's `named_parameters()` (the tied head weight appears once, as `transformer.wte.weight`).
  public var namedParameters: [(String, Variable)] {
    var out = prefixed("transformer.wte", wte.namedParameters) + prefixed("transformer.wpe", wpe.namedParameters)
    for (i, b) in blocks.enumerated() { out += prefixed("transformer.h.\(i)", b.namedParameters) }
    return out + prefixed("transformer.ln_f", lnF.namedParameters)
  }

  /// Token plus position embedding: tokens [B, T] → residual [B, T, C].
  public func embed(_ tokens: IntTensor) throws -> Variable {
    guard tokens.rank == 2 else { throw GPTError("tokens must have shape [B, T], got \(tokens.shape)") }
    let t = tokens.shape[1]
    guard t <= config.blockSize else { throw GPTError("sequence length \(t) exceeds block size \(config.blockSize)") }
    if let bad = tokens.scalars.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
      throw GPTError("token id \(bad) outside the vocabulary 0..<\(config.vocabSize)")
    }
    let positions = IntTensor((0..<Int32(t)).map { $0 })
    return wte(tokens) + wpe(positions)  // [B, T, C] + [T, C]
  }

  /// Runs blocks `start ..< stop` on a residual entering block `start`; offers `act` of each block entered
  /// (and every in-block hook point) to `hook`. Returns the residual entering block `stop`.
  public func runBlocks(_ x: Variable, from start: Int, to stop: Int, hook: GPTHook? = nil) -> Variable {
    var h = x
    for i in start..<stop {
      if let hook { h = hook.intercept(.act, layer: i, h) }
      h = blocks[i](h, hook: hook)
    }
    return h
  }

  /// Final norm and head: residual [B, T, C] (the output of the last block) → logits [B, T, V];
  /// offers `act` of layer n_layer to `hook`.
  public func head(_ x: Variable, hook: GPTHook? = nil) -> Variable {
    var h = x
    if let hook { h = hook.intercept(.act, layer: config.nLayer, h) }
    return Variable.linear(lnF(h), weight: wte.weight, bias: nil)
  }

  /// Logits [B, T, V] for tokens [B, T].
  public func callAsFunction(_ tokens: IntTensor, hook: GPTHook? = nil) throws -> Variable {
    head(runBlocks(try embed(tokens), from: 0, to: config.nLayer, hook: hook), hook: hook)
  }

  /// The reference's `forward(start_at_layer:, stop_at_layer:)` on a residual: starts at block `startAt`
  /// (negative counts from the end) and returns the residual entering block `stopAt` (exclusive), or logits
  /// when `stopAt` is nil.
  public func forward(residual: Variable, startAt: Int, stopAt: Int? = nil, hook: GPTHook? = nil) -> Variable {
    let n = config.nLayer
    let start = startAt < 0 ? startAt + n : startAt
    precondition(start >= 0 && start <= n, "start layer \(startAt) out of range for \(n) blocks")
    if let stopAt {
      let stop = stopAt < 0 ? stopAt + n : stopAt
      precondition(stop >= start && stop <= n, "stop layer \(stopAt) out of range")
      return runBlocks(residual, from: start, to: stop, hook: hook)
    }
    return head(runBlocks(residual, from: start, to: n, hook: hook), hook: hook)
  }

  /// Tokens [B, T] → the residual entering block `stopAt` (or logits when nil).
  public func forward(_ tokens: IntTensor, stopAt: Int? = nil, hook: GPTHook? = nil) throws -> Variable {
    forward(residual: try embed(tokens), startAt: 0, stopAt: stopAt, hook: hook)
  }

  /// Mean cross-entropy of next-token predictions over all positions.
  public func loss(_ tokens: IntTensor, targets: IntTensor, hook: GPTHook? = nil) throws -> Variable {
    guard targets.shape == tokens.shape else {
      throw GPTError("targets \(targets.shape) do not match tokens \(tokens.shape)")
    }
    return try self(tokens, hook: hook).crossEntropy(targets: targets)
  }

  /// AdamW parameter groups: weight decay for parameters with at least two dimensions, none for the rest.
  public func optimizerGroups(weightDecay: Float) -> [AdamW.Group] {
    let params = parameters
    return [AdamW.Group(parameters: params.filter { $0.rank >= 2 }, weightDecay: weightDecay),
            AdamW.Group(parameters: params.filter { $0.rank < 2 }, weightDecay: 0)]
  }
}
