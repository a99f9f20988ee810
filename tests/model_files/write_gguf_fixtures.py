"""Writes the GGUF test files and their expected values with the `gguf` package
(gguf-py, llama.cpp's own Python reader/writer), the reference the C++
GGUF reader is compared against.

  write_gguf_fixtures.py synthetic OUT_DIR
      metadata.gguf      v3, every metadata value type with known values
      quant_types.gguf   one tensor per dequantizable type, random bytes;
                         expected_<TYPE>.f32 holds gguf.quants.dequantize of each
      v2.gguf            a version 2 file
      aligned64.gguf     general.alignment 64; expected_aligned64_c.f32
  write_gguf_fixtures.py smollm2 MODEL.gguf OUT_DIR
      smollm2_<tensor>.f32  gguf.quants.dequantize of a few tensors

Expected values are raw little-endian float32, in ggml order.
"""

import sys
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V


class TypedArray(list):
    """A metadata array with an explicit element type (gguf-py would pick int32/float32)."""

    def __init__(self, element_type, items):
        super().__init__(items)
        self.element_type = element_type


class Writer(gguf.GGUFWriter):
    def _pack_val(self, val, vtype, add_vtype):
        if not isinstance(val, TypedArray):
            return super()._pack_val(val, vtype, add_vtype)
        data = bytearray()
        if add_vtype:
            data += self._pack("I", V.ARRAY)
        data += self._pack("I", val.element_type) + self._pack("Q", len(val))
        for item in val:
            data += self._pack_val(item, val.element_type, add_vtype=False)
        return bytes(data)


def write(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_metadata_file(out):
    writer = Writer(out / "metadata.gguf", "testarch")
    writer.add_uint8("test.u8", 200)
    writer.add_int8("test.i8", -100)
    writer.add_uint16("test.u16", 60000)
    writer.add_int16("test.i16", -30000)
    writer.add_uint32("test.u32", 4000000000)
    writer.add_int32("test.i32", -2000000000)
    writer.add_float32("test.f32", 1.5)
    writer.add_bool("test.bool", True)
    writer.add_bool("test.false", False)
    writer.add_string("test.string", "h\u00e9llo w\u00f6rld")
    writer.add_string("test.long", "\u00e9" * 100)
    writer.add_uint64("test.u64", 12345678901)
    writer.add_uint64("test.u64_huge", 2**63 + 5)
    writer.add_int64("test.i64", -(2**62))
    writer.add_float64("test.f64", 3.141592653589793)
    writer.add_array("test.ints", [1, -2, 3])
    writer.add_array("test.floats", [0.5, -1.25])
    writer.add_array("test.strings", ["a", "", "\u00e7a"])
    writer.add_array("test.bools", [True, False, True])
    writer.add_key_value("test.u8s", TypedArray(V.UINT8, [0, 255]), V.ARRAY)
    writer.add_key_value("test.i16s", TypedArray(V.INT16, [-32768, 32767]), V.ARRAY)
    writer.add_key_value("test.u64s", TypedArray(V.UINT64, [1, 2**64 - 1]), V.ARRAY)
    writer.add_key_value("test.i64s", TypedArray(V.INT64, [-(2**63), 2**63 - 1]), V.ARRAY)
    writer.add_key_value("test.f64s", TypedArray(V.FLOAT64, [0.1, -1e300]), V.ARRAY)
    writer.add_key_value(
        "test.nested",
        TypedArray(V.ARRAY, [TypedArray(V.INT16, [1, -2]), TypedArray(V.STRING, ["x", "y", "z"]),
                             TypedArray(V.ARRAY, [TypedArray(V.UINT32, [7])])]),
        V.ARRAY)
    write(writer)


# Byte offsets of the f16 scale fields in each quantized block: random
# bytes there could be inf or NaN, so they get moderate finite values.
SCALE_OFFSETS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


def random_tensor_bytes(rng, qtype, rows, blocks_per_row):
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    data = rng.integers(0, 256, size=(rows * blocks_per_row, type_size), dtype=np.uint8)
    for offset in SCALE_OFFSETS.get(qtype, []):
        scales = rng.uniform(-2.0, 2.0, size=rows * blocks_per_row).astype(np.float16)
        data[:, offset:offset + 2] = scales.view(np.uint8).reshape(-1, 2)
    return data.reshape(rows, blocks_per_row * type_size)


def write_quant_types_file(out):
    rng = np.random.default_rng(20241125)
    every_16_bit_pattern = np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(256, 512)
    tensors = {
        # All 2^32 bit patterns are possible here, NaNs included: compared bit for bit.
        Q.F32: rng.integers(0, 256, size=(64, 400), dtype=np.uint8),
        Q.F16: every_16_bit_pattern,
        Q.BF16: every_16_bit_pattern,
    }
    for qtype in (Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0):
        tensors[qtype] = random_tensor_bytes(rng, qtype, rows=10, blocks_per_row=30)
    for qtype in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
        tensors[qtype] = random_tensor_bytes(rng, qtype, rows=4, blocks_per_row=50)

    writer = Writer(out / "quant_types.gguf", "testarch")
    for qtype, data in tensors.items():
        writer.add_tensor(qtype.name, data, raw_dtype=qtype)
        expected = gguf.quants.dequantize(data, qtype).astype("<f4", copy=False)
        expected.tofile(out / f"expected_{qtype.name}.f32")
    write(writer)


def write_v2_file(out):
    path = out / "v2.gguf"
    writer = Writer(path, "testarch")
    writer.add_uint32("test.answer", 42)
    writer.add_tensor("weights", np.array([[1.0, -2.0], [0.25, 8.0]], dtype=np.float32))
    write(writer)
    # Version 2 and 3 have the same little-endian layout: only the number differs.
    data = bytearray(path.read_bytes())
    data[4:8] = (2).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def write_aligned64_file(out):
    writer = Writer(out / "aligned64.gguf", "testarch")
    writer.add_custom_alignment(64)
    writer.add_tensor("a", np.array([1.5, -2.0, 3.25], dtype=np.float32))
    writer.add_tensor("b", np.array([0.5, 1.0, 2.0, 4.0, 8.0], dtype=np.float16))
    c = random_tensor_bytes(np.random.default_rng(64), Q.Q8_0, rows=1, blocks_per_row=2)
    writer.add_tensor("c", c, raw_dtype=Q.Q8_0)
    gguf.quants.dequantize(c, Q.Q8_0).astype("<f4").tofile(out / "expected_aligned64_c.f32")
    write(writer)


def write_smollm2_references(model, out):
    reader = gguf.GGUFReader(model)
    tensors = {t.name: t for t in reader.tensors}
    wanted = {
        "token_embd.weight": slice(0, 10),  # rows 0..9
        "blk.0.attn_q.weight": slice(None),
        "blk.29.ffn_down.weight": slice(None),
        "output_norm.weight": slice(None),
    }
    for name, rows in wanted.items():
        tensor = tensors[name]
        data = tensor.data if tensor.data.ndim == 1 else tensor.data[rows]
        values = gguf.quants.dequantize(np.ascontiguousarray(data), tensor.tensor_type)
        values.astype("<f4").tofile(out / f"smollm2_{name}.f32")


def main(argv):
    if len(argv) == 3 and argv[1] == "synthetic":
        out = Path(argv[2])
        out.mkdir(parents=True, exist_ok=True)
        write_metadata_file(out)
        write_quant_types_file(out)
        write_v2_file(out)
        write_aligned64_file(out)
    elif len(argv) == 4 and argv[1] == "smollm2":
        out = Path(argv[3])
        out.mkdir(parents=True, exist_ok=True)
        write_smollm2_references(argv[2], out)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
