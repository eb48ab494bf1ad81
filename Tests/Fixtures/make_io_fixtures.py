#!/usr/bin/env python3
"""Writes the tiny .safetensors and .npy fixtures used by Tests/TensorTests/IOTests*.swift.

Needs numpy and the `safetensors` package (pip install safetensors); PyTorch is not needed.
Outputs go to Tests/TensorTests/Fixtures/. Run from anywhere:

    python3 Tests/Fixtures/make_io_fixtures.py

Every file is written by the libraries themselves (numpy.save, safetensors.numpy.save_file, and for
BF16, which numpy lacks, the safetensors package's own low-level `serialize_file` given raw bfloat16
bit patterns through `TensorSpec`), so the files are exactly what Python produces.
"""
import os

import numpy as np
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "TensorTests", "Fixtures")


def spec(dtype_name, array, keep):
    """A TensorSpec pointing at `array`'s bytes, recorded under safetensors dtype name `dtype_name`."""
    array = np.ascontiguousarray(array)
    keep.append(array)
    return TensorSpec(dtype=dtype_name, shape=list(array.shape), data_ptr=array.ctypes.data, data_len=array.nbytes)


def main():
    os.makedirs(OUT, exist_ok=True)

    # 1. Mixed dtypes, metadata with several keys (Python's key order for these is not deterministic).
    keep = []
    f16 = np.array([0.0, -0.0, 1.0, -2.0, 0.5, 65504.0, 2.0**-14, 2.0**-24, 1023 * 2.0**-24, 1 / 3,
                    np.inf, -np.inf, np.nan], dtype=np.float16)
    bf16_bits = np.array([0x3F80, 0xC000, 0x3EAB, 0x4049, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x8000, 0x0000],
                         dtype=np.uint16)
    tensors = {
        "weight": spec("float32", np.array([[1.5, -2.25, 0.0], [3.0e-38, 1.0e30, -0.125]], dtype=np.float32), keep),
        "half": spec("float16", f16, keep),
        "brain": spec("bfloat16", bf16_bits, keep),
        "ids": spec("int64", np.array([[0, 1, -1], [2147483647, -2147483648, 42]], dtype=np.int64), keep),
        "counts": spec("int32", np.array([7, -8, 2147483647], dtype=np.int32), keep),
    }
    serialize_file(tensors, os.path.join(OUT, "io_mixed.safetensors"),
                   metadata={"format": "pt", "note": "quote \" backslash \\ newline \n é"})

    # 2. Deterministic F32 + I64 with one metadata key: our encoder must reproduce it byte for byte.
    save_file({
        "lm_head.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        "b.bias": np.array([-1.0, 2.5], dtype=np.float32),
        "scalar": np.array(3.25, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "tokens": np.array([[5, 6], [7, 8]], dtype=np.int64),
        "a_ids": np.array([-3], dtype=np.int64),
    }, os.path.join(OUT, "io_f32_i64.safetensors"), metadata={"transformer.wte.weight": "lm_head.weight"})

    # 3. Deterministic F32 + I32 without metadata (I32 sorts after F32).
    save_file({
        "z": np.array([1.0], dtype=np.float32),
        "ids": np.array([1, 2, 3], dtype=np.int32),
        "a": np.array([[0.5]], dtype=np.float32),
    }, os.path.join(OUT, "io_f32_i32.safetensors"))

    # 4. .npy files.
    np.save(os.path.join(OUT, "io_uint16.npy"), np.array([0, 1, 65, 127, 65535], dtype=np.uint16))
    np.save(os.path.join(OUT, "io_int32.npy"), np.array([-2147483648, -1, 0, 2147483647], dtype=np.int32))
    np.save(os.path.join(OUT, "io_int64.npy"), np.array([-(2**63), -1, 0, 2**40, 2**63 - 1], dtype=np.int64))
    np.save(os.path.join(OUT, "io_float32.npy"), np.array([0.0, -1.5, 3.25, 1e-45, np.inf], dtype=np.float32))
    np.save(os.path.join(OUT, "io_float32_2d.npy"), np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5)
    np.save(os.path.join(OUT, "io_scalar.npy"), np.array(7.0, dtype=np.float32))


if __name__ == "__main__":
    main()
