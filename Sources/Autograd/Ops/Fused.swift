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
