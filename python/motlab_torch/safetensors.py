"""safetensors, our own reader and writer (the format: u64 LE header length, JSON header, raw LE data).

Written like the lab's src-main/checkpoints/safetensors.ts: F32 tensors sorted by name with
contiguous offsets, the header padded with spaces to a multiple of 8. The reader checks every
size and offset against the bytes present; failures name the file.
"""
import json
import os
import struct

import numpy as np

from .errors import MotlabError

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "u1"}
MAX_HEADER_BYTES = 100 * 1024 * 1024


def encode(tensors, metadata=None, int_as_i32=False):
    """{name: array or tensor} -> bytes: F32, or I32 for integer arrays when int_as_i32 (activation dumps)."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        if not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError("safetensors metadata values must be strings")
        header["__metadata__"] = dict(metadata)
    for name in sorted(tensors):
        a = tensors[name]
        a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)  # a torch tensor or an array
        dtype = ("I32", "<i4") if int_as_i32 and a.dtype.kind in "iu" else ("F32", "<f4")
        raw = np.ascontiguousarray(a, dtype=dtype[1]).tobytes()
        header[name] = {"dtype": dtype[0], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return b"".join([struct.pack("<Q", len(h)), h, *blobs])


def write_file(path, tensors, metadata=None, int_as_i32=False):
    """Write durably (fsync) to a new temporary name and rename over `path`."""
    data = encode(tensors, metadata, int_as_i32)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def decode(data, source):
    """bytes -> ({name: float32 numpy array}, metadata dict)."""
    def fail(why):
        raise MotlabError("invalid_checkpoint", f"{source}: {why}")

    if len(data) < 8:
        fail(f"not a safetensors file ({len(data)} bytes, the 8-byte header length is missing)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        fail(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit (not a safetensors file?)")
    if 8 + n > len(data):
        fail(f"header length {n} runs past the end of the file ({len(data)} bytes; truncated?)")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        fail(f"header is not valid JSON ({e})")
    if not isinstance(header, dict):
        fail("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail("__metadata__ is not an object of strings")
    body = memoryview(data)[8 + n:]
    tensors, spans = {}, []
    for name, info in header.items():
        where = f'tensor "{name}"'
        if not isinstance(info, dict):
            fail(f"{where}: entry is not an object")
        dt, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dt not in DTYPES and dt != "BF16":
            fail(f"{where}: unsupported dtype {json.dumps(dt)[:40]}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            fail(f"{where}: shape must be an array of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= len(body)):
            fail(f"{where}: data_offsets {offsets} lie outside the {len(body)}-byte data area")
        begin, end = offsets
        count = int(np.prod(shape, dtype=np.int64))
        item = 2 if dt == "BF16" else np.dtype(DTYPES[dt]).itemsize
        if end - begin != count * item:
            fail(f"{where}: shape {shape} needs {count * item} bytes, data_offsets span {end - begin}")
        if dt == "BF16":
            arr = (np.frombuffer(body[begin:end], dtype="<u2").astype("<u4") << 16).view("<f4")
        else:
            arr = np.frombuffer(body[begin:end], dtype=DTYPES[dt]).astype(np.float32)
        tensors[name] = arr.reshape(shape)
        spans.append((begin, end))
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            fail(f"tensors overlap or leave a gap at byte {covered} of the data area")
        covered = end
    if covered != len(body):
        fail(f"the data area is {len(body)} bytes, the tensors cover {covered}")
    return tensors, metadata


def read_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise MotlabError("invalid_checkpoint", f"{path}: missing") from None
    return decode(data, path)
