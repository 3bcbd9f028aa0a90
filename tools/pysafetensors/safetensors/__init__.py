"""Minimal pure-Python safetensors (vdm tools only; not a build/test dependency).

Implements the subset of the `safetensors` package API that diffusers 0.29 and
huggingface_hub 0.23 call: safetensors.torch.{save_file, load_file, save, load,
save_model, load_model}, safe_open(...) and SafetensorError.

File layout (same as the reference Rust crate writes it):
  u64 little-endian N | N bytes of JSON header, space-padded to a multiple of 8 |
  tensor data, C order, little endian, contiguous, in header order.
The header is compact JSON: "__metadata__" (str->str) first if present, then one
{"dtype","shape","data_offsets"} entry per tensor, sorted by dtype rank
descending (U64 I64 F64 F32 U32 I32 BF16 F16 U16 I16 I8 U8 BOOL), then by name.
"""
import json
import struct

__version__ = "0.4.3"

# Reference crate's Dtype enum order ("increasing alignment"); higher sorts first.
DTYPE_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "U16": 6, "F16": 7, "BF16": 8,
              "I32": 9, "U32": 10, "F32": 11, "F64": 12, "I64": 13, "U64": 14}
DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
              "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
MAX_HEADER_SIZE = 100_000_000


class SafetensorError(Exception):
    pass


def serialize(entries, metadata=None):
    """entries: {name: (dtype_str, shape, bytes)} -> file bytes."""
    order = sorted(entries, key=lambda n: (-DTYPE_RANK[entries[n][0]], n))
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    for name in order:
        dtype, shape, data = entries[name]
        header[name] = {"dtype": dtype, "shape": [int(s) for s in shape],
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    return b"".join([struct.pack("<Q", len(hb)), hb] + [entries[n][2] for n in order])


def parse(buf):
    """file bytes -> (metadata or None, {name: (dtype_str, shape, memoryview)}) after validation."""
    buf = memoryview(buf)
    if len(buf) < 8:
        raise SafetensorError("HeaderTooSmall")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER_SIZE or 8 + n > len(buf):
        raise SafetensorError("InvalidHeaderLength")
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorError(f"InvalidHeaderDeserialization: {e}")
    if not isinstance(header, dict):
        raise SafetensorError("InvalidHeaderDeserialization")
    metadata = header.pop("__metadata__", None)
    data = buf[8 + n:]
    out, end = {}, 0
    try:
        items = sorted(((tuple(i["data_offsets"]), k, i["dtype"], i["shape"]) for k, i in header.items()))
    except (KeyError, TypeError, ValueError) as e:
        raise SafetensorError(f"InvalidHeaderDeserialization: {e}")
    for (s, e), name, dtype, shape in items:
        if dtype not in DTYPE_SIZE:
            raise SafetensorError(f"unsupported dtype {dtype} for {name}")
        numel = 1
        for d in shape:
            numel *= int(d)
        if s != end or e < s:
            raise SafetensorError(f"InvalidOffset({name})")
        if e - s != numel * DTYPE_SIZE[dtype]:
            raise SafetensorError(f"TensorInvalidInfo({name})")
        out[name], end = (dtype, list(shape), data[s:e]), e
    if end != len(data):
        raise SafetensorError("MetadataIncompleteBuffer")
    return metadata, out


def __getattr__(name):  # `import safetensors; safetensors.torch.load_file(...)` as diffusers does
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    raise AttributeError(name)


class safe_open:
    """with safe_open(path, framework="pt", device="cpu") as f: f.keys(), f.get_tensor(k), f.metadata()"""

    def __init__(self, filename, framework="pt", device="cpu"):
        if framework not in ("pt", "torch", "pytorch"):
            raise SafetensorError(f"framework {framework} not supported")
        with open(filename, "rb") as fh:
            self._meta, self._entries = parse(fh.read())
        self._device = device

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def keys(self):
        return sorted(self._entries)

    def metadata(self):
        return self._meta

    def get_tensor(self, name):
        from .torch import _to_tensor
        return _to_tensor(*self._entries[name]).to(self._device)
