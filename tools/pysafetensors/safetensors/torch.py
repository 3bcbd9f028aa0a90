"""safetensors.torch: save/load dicts of torch tensors (see package docstring)."""
import os

import torch

from . import SafetensorError, parse, serialize

_TO_ST = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
          torch.uint8: "U8", torch.bool: "BOOL"}
_FROM_ST = {v: k for k, v in _TO_ST.items()}


def _tensor_bytes(t):
    if t.dtype not in _TO_ST:
        raise SafetensorError(f"unsupported dtype {t.dtype}")
    t = t.detach().cpu().contiguous()
    if t.numel() == 0:
        return b""
    # Reinterpret as bytes (works for bf16, which numpy lacks); host is little endian.
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def _to_tensor(dtype, shape, data):
    tdtype = _FROM_ST.get(dtype)
    if tdtype is None:
        raise SafetensorError(f"dtype {dtype} has no torch equivalent here")
    if len(data) == 0:
        return torch.empty(shape, dtype=tdtype)
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return raw.view(tdtype).reshape(shape)


def save(tensors, metadata=None):
    entries = {}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise SafetensorError(f"{name} is not a torch.Tensor")
        entries[name] = (_TO_ST.get(t.dtype, str(t.dtype)), list(t.shape), _tensor_bytes(t))
    return serialize(entries, metadata)


def save_file(tensors, filename, metadata=None):
    data = save(tensors, metadata)
    tmp = f"{filename}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, filename)


def load(data):
    _, entries = parse(data)
    return {name: _to_tensor(*e) for name, e in entries.items()}


def load_file(filename, device="cpu"):
    with open(filename, "rb") as f:
        out = load(f.read())
    return {k: v.to(device) for k, v in out.items()} if str(device) != "cpu" else out


def save_model(model, filename, metadata=None, force_contiguous=False):
    # Shared tensors are not deduplicated (the reference drops aliases); fine for tools use.
    state = {k: (v.contiguous() if force_contiguous else v) for k, v in model.state_dict().items()}
    save_file(state, filename, metadata if metadata is not None else {"format": "pt"})


def load_model(model, filename, strict=True, device="cpu"):
    result = model.load_state_dict(load_file(filename, device=device), strict=strict)
    return result.missing_keys, result.unexpected_keys
