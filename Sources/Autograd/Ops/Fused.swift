import Tensor

extension Variable {
  /// Fused layer norm over the last axis (eps 1e-5 by default).
  public func layerNorm(weight: Variable, bias: Variable, eps: Float = 1e-5) -> Variable {
    let x = value, w = weight.value
    let (y, cache) = LayerNormKernel.forward(x, weight: w, bias: bias.value, eps: eps)
    return Variable.record(y, operation: "layer_norm", inputs: [self, weight, bias]) { g in
      let (dx, dw, db) = LayerNormKernel.backward(g, x: x, weight: w, cache: cache)
      return [dx, dw, db]
    }
  }

  /// Fused causal multi-head self-attention on a packed qkv [B, T, 3C] → [B, T, C].
  public func causalSelfAttention(heads: Int) -> Variable {
    let qkv = value
    // Without a backward the probabilities are not kept.
    guard GradMode.isEnabled && requiresGrad else { return Variable(AttentionKernel.inference(qkv, heads: heads)) }
    let (y, cache) = AttentionKernel.forward(qkv, heads: heads)
    return Variable.record(y, operation: "attention", inputs: [self]) { g in
      [AttentionKernel.backward(g, qkv: qkv, heads: heads, cache: cache)]
    }
  }

  /// GPT-2's feed-forward layer gelu(x·W₁ᵀ + b₁)·W₂ᵀ + b₂ on x [..., C] (W₁ [H, C], W₂ [C, H], tanh GELU) as
  /// one node: `FeedForwardKernel`'s row blocks, keeping only the pre-activations for the backward. When no
  /// gradient will be taken it runs the unfused composition (`FeedForwardKernel.referenceForward`), whose bits
  /// `Block.inference` reproduces; layers too wide for the blocks (`FeedForwardKernel.suits`) take the
  /// differentiable composition linear, gelu, linear.
  public func feedForward(fcWeight: Variable, fcBias: Variable?, projWeight: Variable, projBias: Variable?) -> Variable {
    let x = value, w1 = fcWeight.value, w2 = projWeight.value
    let inputs = [self, fcWeight, projWeight] + [fcBias, projBias].compactMap { $0 }
    guard GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad }) else {
      return Variable(FeedForwardKernel.referenceForward(x, fcWeight: w1, fcBias: fcBias?.value, projWeight: w2,
                                                         projBias: projBias?.value, keepHidden: false).0)
    }
    guard w1.rank != 2 || FeedForwardKernel.suits(inFeatures: w1.shape[1], hidden: w1.shape[0]) else {
      return Variable.linear(Variable.linear(self, weight: fcWeight, bias: fcBias).gelu(), weight: projWeight, bias: projBias)
    }
    let (y, cache) = FeedForwardKernel.forward(x, fcWeight: w1, fcBias: fcBias?.value, projWeight: w2,
                                               projBias: projBias?.value)
    return Variable.record(y, operation: "feed_forward", inputs: inputs) { g in
      let needs = FeedForwardKernel.Needs(input: self.requiresGrad, fcWeight: fcWeight.requiresGrad,
                                          fcBias: fcBias?.requiresGrad ?? false, projWeight: projWeight.requiresGrad,
                                          projBias: projBias?.requiresGrad ?? false)
      let r = FeedForwardKernel.backward(g, x: x, fcWeight: w1, projWeight: w2, cache: cache, needs: needs)
      var grads: [Tensor?] = [r.input, r.fcWeight, r.projWeight]
      if fcBias != nil { grads.append(r.fcBias) }
      if projBias != nil { grads.append(r.projBias) }
      return grads
    }
  }

  /// Fused softmax cross-entropy of logits [..., V] against integer targets, averaged over positions.
  public func crossEntropy(targets: IntTensor) -> Variable {
    let s = shape
    let (loss, cache) = CrossEntropyKernel.forward(value, targets: targets)
    return Variable.record(Tensor(scalar: loss), operation: "cross_entropy", inputs: [self]) { g in
      [CrossEntropyKernel.backward(upstream: g.scalar, targets: targets, cache: cache, logitsShape: s)]
    }
  }

  /// Rows of an embedding table [V, C] selected by `indices` → [indices.shape..., C]; backward scatter-adds.
  public static func embedding(_ table: Variable, _ indices: IntTensor) -> Variable {
    let v = table.shape[0]
    return record(table.value.indexSelect(axis: 0, indices), operation: "embedding", inputs: [table]) { g in
      [g.indexAdd(axis: 0, indices, length: v)]
    }
  }
}
