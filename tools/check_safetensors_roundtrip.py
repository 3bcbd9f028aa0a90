#!/usr/bin/env python3
"""Check a .safetensors file (e.g. one written by vdm) with the reference-format reader.

    /usr/bin/python3 tools/check_safetensors_roundtrip.py FILE [EXPECTED.json]

Parses and validates FILE with tools/pysafetensors (header length, JSON, dtypes, contiguous
offsets, sizes, no trailing bytes), prints metadata and, per tensor, name, dtype, shape and a
checksum (sha256 of the raw little-endian bytes, first 16 hex digits), and says whether the
tensors are laid out in the reference writer's order (dtype rank descending, then name) with
the header padded by spaces to a multiple of 8; a byte-exact writer must match that order.
With EXPECTED.json (format of tests/fixtures/safetensors/all_dtypes.json) it also compares
metadata, dtypes, shapes and values exactly (F16/BF16 via their float32 value).

Exit status: 0 all parsed (and matched), 1 mismatch against EXPECTED.json, 2 parse error.
Needs only torch (Debian python3-torch); no PYTHONPATH setup required.
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pysafetensors"))
import safetensors  # noqa: E402
from safetensors.torch import _to_tensor  # noqa: E402


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        raw = f.read()
    try:
        metadata, entries = safetensors.parse(raw)
        tensors = {k: _to_tensor(*e) for k, e in entries.items()}
    except (safetensors.SafetensorError, KeyError, ValueError, TypeError, RuntimeError) as e:
        print(f"PARSE ERROR: {argv[1]}: {e}")
        return 2

    n = int.from_bytes(raw[:8], "little")
    order = [k for k in json.loads(raw[8:8 + n]) if k != "__metadata__"]
    ref = sorted(entries, key=lambda k: (-safetensors.DTYPE_RANK[entries[k][0]], k))
    print(f"file: {argv[1]} ({len(raw)} bytes, header {n} bytes)")
    print(f"metadata: {json.dumps(metadata, sort_keys=True)}")
    for name in order:
        dtype, shape, buf = entries[name]
        digest = hashlib.sha256(bytes(buf)).hexdigest()[:16]
        print(f"  {name}: {dtype} {shape} sha256:{digest}")
    layout_ok = order == ref and n % 8 == 0 and raw[8:8 + n].rstrip(b" ").endswith(b"}")
    print(f"layout: {'reference order' if layout_ok else 'differs from reference writer (still valid)'}")
    print(f"OK: {len(entries)} tensors parsed")

    if len(argv) == 3:
        with open(argv[2]) as f:
            exp = json.load(f)
        errors = []
        if exp.get("metadata") != metadata:
            errors.append(f"metadata {metadata} != {exp.get('metadata')}")
        if set(exp["tensors"]) != set(tensors):
            errors.append(f"names differ: {sorted(set(exp['tensors']) ^ set(tensors))}")
        for name, e in exp["tensors"].items():
            if name not in tensors:
                continue
            dtype, shape, _ = entries[name]
            t = tensors[name]
            if dtype != e["dtype"] or shape != e["shape"]:
                errors.append(f"{name}: {dtype}{shape} != {e['dtype']}{e['shape']}")
                continue
            flat = t.reshape(-1)
            got = flat.double().tolist() if t.is_floating_point() else flat.tolist()
            if got != e["values"]:
                bad = next(i for i, (a, b) in enumerate(zip(got, e["values"])) if a != b) \
                    if len(got) == len(e["values"]) else "len"
                errors.append(f"{name}: values differ (first at {bad})")
        for err in errors:
            print(f"MISMATCH: {err}")
        if errors:
            return 1
        print(f"MATCH: {len(exp['tensors'])} tensors equal to {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
