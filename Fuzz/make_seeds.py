#!/usr/bin/env python3
"""Writes the committed seed corpora Fuzz/Corpus/<harness>/ (small valid inputs, a few KB per harness).
Rerun after changing it: python3 Fuzz/make_seeds.py"""
import json, os, shutil, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Corpus")


def put(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: name -> (dtype, shape, raw bytes)"""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def npy(descr, shape, raw, version=1):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    prefix = 10 if version == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    head = b"\x93NUMPY" + bytes([version, 0])
    head += struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return head + header.encode("latin1" if version < 3 else "utf8") + raw


shutil.rmtree(ROOT, ignore_errors=True)

# safetensors
put("SafeTensors", "f32_i64_meta", safetensors(
    {"a": ("F32", [2, 3], f32([0, 1, -2.5, 3e38, 1e-40, 7])), "ids": ("I64", [3], struct.pack("<3q", 1, -2, 3))},
    {"format": "pt"}))
put("SafeTensors", "f16_bf16_i32", safetensors(
    {"h": ("F16", [2], struct.pack("<2H", 0x3C00, 0xC000)), "b": ("BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x4040)),
     "n": ("I32", [2], struct.pack("<2i", 5, -6))}))
put("SafeTensors", "empty", safetensors({}))
put("SafeTensors", "scalar_and_zero", safetensors({"s": ("F32", [], f32([1.5])), "z": ("F32", [0, 4], b"")}))

# npy
put("NPY", "u2_v1", npy("<u2", [5], struct.pack("<5H", 1, 2, 3, 65535, 0)))
put("NPY", "f4_2d", npy("<f4", [2, 2], f32([1, 2, 3, 4])))
put("NPY", "i4_v2", npy("<i4", [3], struct.pack("<3i", -1, 0, 1), version=2))
put("NPY", "i8_scalar", npy("<i8", [], struct.pack("<q", 42)))
put("NPY", "empty", npy("<f4", [0], b""))

# model.json
put("ModelJSON", "ascii_64x4", '{"block_size": 128, "vocab_size": 128, "n_layer": 4, "n_head": 4, "n_embd": 64, "norm_strategy": "LayerNorm"}')
put("ModelJSON", "dyt", '{"block_size": 128, "vocab_size": 128, "n_layer": 4, "n_head": 4, "n_embd": 64, "norm_strategy": "DynamicTanh", "alpha_mlp": 0.5}')
put("ModelJSON", "minimal", '{"block_size":1,"vocab_size":1,"n_layer":1,"n_head":1,"n_embd":1}')

# sae.json
put("SAEJSON", "topk_act", '{"n_features": [512, 512, 512, 512, 512], "sae_variant": "topk", "top_k": [10, 10, 10, 10, 10], "sae_keys": ["0_act", "1_act", "2_act", "3_act", "4_act"]}')
put("SAEJSON", "staircase", '{"n_features": [64, 128, 192, 256, 320], "sae_variant": "topk_staircase", "top_k": [5, 5, 5, 5, 5], "sae_keys": ["0_act", "1_act", "2_act", "3_act", "4_act"]}')
put("SAEJSON", "jsae_mlp", '{"n_features": [64, 64], "sae_variant": "jsae", "top_k": [4, 4], "sae_keys": ["0_mlpin", "0_mlpout"]}')
put("SAEJSON", "jumprelu_block", '{"n_features": [32, 32], "sae_variant": "jumprelu", "sae_keys": ["1_residmid", "1_residpost"]}')

# training configs: first byte 0 = GPT, 1 = SAE
gpt_cfg = {"batch_size": 8, "data_dir": "data/shakespeare", "decay_lr": True, "eval_interval": 10, "eval_steps": 2,
           "gpt_config": "ascii_64x4", "grad_clip": 1, "gradient_accumulation_steps": 1, "learning_rate": 0.001,
           "log_interval": 1, "max_steps": 20, "min_lr": 1e-05, "name": "x", "warmup_steps": 2, "weight_decay": 0.1}
put("TrainingConfig", "gpt", b"\x00" + json.dumps(gpt_cfg).encode())
sae_cfg = {"batch_size": 8, "data_dir": "data/shakespeare", "decay_lr": True, "eval_interval": 10, "eval_steps": 2,
           "gradient_accumulation_steps": 1, "learning_rate": 0.001, "log_interval": 1, "max_steps": 20, "min_lr": 1e-05,
           "name": "s", "sae_config": "topk.tblock.shakespeare_64x4", "trainer": "concurrent", "warmup_steps": 2}
put("TrainingConfig", "sae_preset", b"\x01" + json.dumps(sae_cfg).encode())
inline = dict(sae_cfg, sae_config={"name": "m", "gpt_config": "ascii_64x4", "n_features": [64, 64], "sae_variant": "jsae",
                                   "top_k": [4, 4], "sae_keys": ["0_mlpin", "0_mlpout"]},
              loss_coefficients={"sparsity": [0.001]})
put("TrainingConfig", "sae_inline", b"\x01" + json.dumps(inline).encode())
e2e = dict(sae_cfg, trainer="end_to_end", loss_coefficients={"downstream": 1, "bandwidth": 0.1})
put("TrainingConfig", "sae_e2e", b"\x01" + json.dumps(e2e).encode())

# attribution files
meta = {"model_name": "m", "attribution_method": "ig", "batch_size": "24", "num_batches": "24", "steps": "4", "epsilon": "N/A"}
put("AttributionFile", "two_pairs", safetensors({"0-1": ("F32", [4, 3], f32([0.5, -1, 0, 2, 3, 0, 0, 1e-3, -2, 4, 1, 0])),
                                                 "MLP_0": ("F32", [2, 2], f32([1, 0, 0, -1]))}, meta))
put("AttributionFile", "fixed_shape", safetensors({"1-2": ("F32", [16, 24], f32([i * 0.01 for i in range(384)]))}))

# ablation results: first byte 0 = sidecar, 1 = result file
sidecar = {"experiment_params": {"placement": "transblock", "upstream_layer_idx": 1, "num_edges": 5,
                                 "edge_selection_strategy": "gradient", "num_prompts": 2, "sequence_length": 3},
           "results": {"kl_full_model_mean": 0.25, "kl_divergence_mean": 0.125}, "tensor_layout": "compact",
           "file_bytes": 100, "file_fnv1a64": "0123456789abcdef"}
put("AblationResult", "sidecar", b"\x00" + json.dumps(sidecar).encode())
put("AblationResult", "result", b"\x01" + safetensors({
    "kl_divergence_full_model": ("F32", [2, 3], f32([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])),
    "kl_divergence": ("F32", [2, 3], f32([0, 0, 0, 0, 0, 0])),
    "feature_indices": ("I32", [2, 3, 1], struct.pack("<6i", 1, 2, -1, 0, 0, 3)),
    "feature_magnitudes": ("F32", [2, 3, 1], f32([1, 2, 0, 3, 4, 5])), "logits": ("F32", [2, 2], f32([1, 2, 3, 4]))}))

# BPE: first byte even = text to encode; odd = vocab.json NUL merges.txt
put("BPETokenizer", "text", b"\x00" + "Hello, the thing in the inner ring — café 😀\n\t  x <|endoftext|>".encode())
put("BPETokenizer", "binary", b"\x00" + bytes(range(256)))
printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
order = printable + [b for b in range(256) if b not in printable]
n = 0
alphabet = {}
for b in order:
    if b in printable:
        alphabet[b] = chr(b)
    else:
        alphabet[b] = chr(256 + n)
        n += 1
vocab = {alphabet[b]: i for i, b in enumerate(order)}
vocab["Ġt"] = 256
vocab["he"] = 257
vocab["Ġthe"] = 258
vocab["<|endoftext|>"] = 259
put("BPETokenizer", "files", b"\x01" + json.dumps(vocab, ensure_ascii=False).encode() + b"\x00" + "#version: 0.2\nĠ t\nh e\nĠt he\n".encode())

# ASCII
put("ASCIITokenizer", "text", "ROMEO:\nBut soft, what light through yonder window breaks?\t~{}|\x7f\x00")
put("ASCIITokenizer", "unicode", "café 日本語 😀 e\u0301".encode())
