#!/usr/bin/env python3
"""Write the safetensors interop fixtures under tests/fixtures/safetensors/.

Needs the reference environment (see tools/README.md):
    . /work/pyenv/env.sh && /usr/bin/python3 tools/make_safetensors_fixtures.py [out_dir]

Outputs (deterministic; re-running rewrites them byte for byte, bar the diffusers version in config.json):
  diffusers_tiny_unet/          tiny random UNet3DConditionModel, save_pretrained(safe_serialization=True)
  diffusers_tiny_unet_sharded/  same weights, save_pretrained(max_shard_size="20KB"):
                                diffusion_pytorch_model.safetensors.index.json + -0000k-of-0000n shards
  all_dtypes.safetensors        one tensor per dtype + empty [0,3] + rank-0, metadata {"format","note"}
  all_dtypes.json               sidecar: metadata, header_order, per tensor dtype/shape/values (flat, C order;
                                F16/BF16 as their exact float32 value; BOOL as true/false; ints exact)
"""
import json
import os
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools", "pysafetensors"))
import safetensors  # noqa: E402
import safetensors.torch as st  # noqa: E402

TINY_UNET3D = dict(
    sample_size=8, in_channels=4, out_channels=4,
    down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
    up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
    block_out_channels=(4, 8), layers_per_block=1, norm_num_groups=2,
    cross_attention_dim=4, attention_head_dim=2,
)


def tiny_unet(out_dir):
    from diffusers import UNet3DConditionModel
    torch.manual_seed(0)
    model = UNet3DConditionModel(**TINY_UNET3D).eval()
    # Default init leaves many tensors zero (zero-init out projections); randomize all so a loader
    # that mixes names up cannot pass by accident.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    single = os.path.join(out_dir, "diffusers_tiny_unet")
    sharded = os.path.join(out_dir, "diffusers_tiny_unet_sharded")
    model.save_pretrained(single, safe_serialization=True)
    model.save_pretrained(sharded, safe_serialization=True, max_shard_size="20KB")
    ref = model.state_dict()

    # Verify: single file through diffusers' own loader, shards by merging the index ourselves
    # (diffusers 0.29 needs `accelerate` to load sharded checkpoints, which this env lacks).
    loaded = UNet3DConditionModel.from_pretrained(single, low_cpu_mem_usage=False).state_dict()
    assert loaded.keys() == ref.keys() and all(torch.equal(loaded[k], ref[k]) for k in ref)
    with open(os.path.join(sharded, "diffusion_pytorch_model.safetensors.index.json")) as f:
        index = json.load(f)
    merged = {}
    for shard in sorted(set(index["weight_map"].values())):
        merged.update(st.load_file(os.path.join(sharded, shard)))
    assert merged.keys() == ref.keys() and all(torch.equal(merged[k], ref[k]) for k in ref)
    total = sum(t.numel() * t.element_size() for t in ref.values())
    assert index["metadata"]["total_size"] == total, (index["metadata"], total)
    print(f"tiny UNet3D: {len(ref)} tensors, {total} bytes, "
          f"{len(set(index['weight_map'].values()))} shards")


def all_dtypes(out_dir):
    g = torch.Generator().manual_seed(1234)
    t = {
        "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "f32": torch.randn(2, 3, 4, generator=g),
        "f16": torch.randn(3, 2, generator=g).half(),
        "bf16": torch.randn(2, 2, 2, generator=g).bfloat16(),
        "i64": torch.tensor([0, -1, 2**62 + 1, -(2**63), 2**63 - 1], dtype=torch.int64),
        "i32": torch.randint(-(2**31), 2**31 - 1, (2, 3), generator=g, dtype=torch.int32),
        "i16": torch.tensor([-32768, -1, 0, 1, 32767], dtype=torch.int16),
        "i8": torch.randint(-128, 128, (7,), generator=g, dtype=torch.int8),
        "u8": torch.randint(0, 256, (2, 5), generator=g, dtype=torch.uint8),
        "bool": torch.tensor([True, False, False, True, True, False]),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(0.3333333432674408, dtype=torch.float32),
        "model.block.0.weight": torch.randn(1, 1, 3, generator=g),
    }
    metadata = {"format": "pt", "note": "vdm fixture"}
    path = os.path.join(out_dir, "all_dtypes.safetensors")
    st.save_file(t, path, metadata=metadata)

    with safetensors.safe_open(path, framework="pt") as f:
        assert f.metadata() == metadata
        back = {k: f.get_tensor(k) for k in f.keys()}
    assert back.keys() == t.keys() and all(back[k].dtype == t[k].dtype and torch.equal(back[k], t[k]) for k in t)

    with open(path, "rb") as fh:
        raw = fh.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    order = [k for k in header if k != "__metadata__"]  # JSON object order == data order

    def values(x):
        if x.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            return [float(v) for v in x.reshape(-1).double().tolist()]
        if x.dtype == torch.bool:
            return [bool(v) for v in x.reshape(-1).tolist()]
        return [int(v) for v in x.reshape(-1).tolist()]

    side = {
        "file": "all_dtypes.safetensors",
        "metadata": metadata,
        "header_order": order,
        "tensors": {k: {"dtype": st._TO_ST[t[k].dtype], "shape": list(t[k].shape), "values": values(t[k])}
                    for k in order},
    }
    # json.dumps writes floats with repr(): the shortest string that round-trips the double exactly.
    with open(os.path.join(out_dir, "all_dtypes.json"), "w") as f:
        json.dump(side, f, indent=1)
        f.write("\n")
    print(f"all_dtypes: {len(t)} tensors, header order {order}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "fixtures", "safetensors")
    os.makedirs(out_dir, exist_ok=True)
    tiny_unet(out_dir)
    all_dtypes(out_dir)
    total = 0
    for root, _, files in sorted(os.walk(out_dir)):
        for name in sorted(files):
            p = os.path.join(root, name)
            total += os.path.getsize(p)
            print(f"{os.path.getsize(p):8d}  {os.path.relpath(p, out_dir)}")
    print(f"{total:8d}  total")


if __name__ == "__main__":
    main()
