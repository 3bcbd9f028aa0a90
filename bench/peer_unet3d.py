#!/usr/bin/env python3
"""The PyTorch-eager peer of bench/bench_unet3d.cpp: diffusers' UNet3DConditionModel.

Two subcommands:

  prepare --config small|full --out DIR [--frames 8 --size 32 --text-len 77 --seed 0] [--inputs-only NAME]
      Builds a UNet3DConditionModel with diffusers' default initialisation from a fixed seed
      (plus seeded random values for the layers diffusers zero-initialises, so that every
      path shows in the output), saves it with save_pretrained (safetensors, one file) to
      DIR/model, and the inputs (sample, timestep, encoder_hidden_states, target) to
      DIR/inputs.safetensors. vdm (load_unet3d) and this peer then run the same weights on
      the same inputs.

  run --model DIR/model --inputs DIR/inputs.safetensors --mode forward|train
      [--optimizer none|adamw --threads 2 --warmup 1 --iters 3 --save-output F --profile F]
      Times whole forwards (no grad, eval) or training steps (train mode; forward, MSE loss
      against `target`, backward, optionally an AdamW step; gradients reset to None every
      step) and prints one JSON line, as bench_unet3d does.

Run with the reference environment (tools/README.md):
    . /work/pyenv/env.sh && /usr/bin/python3 bench/peer_unet3d.py ...

torch 1.13 note: diffusers' AttnProcessor passes torch.empty(...) to baddbmm(beta=0); on
Debian's CPU build that uninitialised memory can leak NaN into the scores, so (as in
tools/make_unet3d_fixtures.py) the scores get an explicit zero bias instead. Same math; it
costs one extra zero tensor (and beta=1 read of it) per attention call.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

CONFIGS = {
    # ~14.4M parameters: ModelScope's layout at a tenth of the width.
    "small": dict(block_out_channels=(32, 64, 128, 128), attention_head_dim=16,
                  cross_attention_dim=64, norm_num_groups=32, layers_per_block=2),
    # ModelScope text-to-video (diffusers' defaults): ~1.41B parameters.
    "full": dict(block_out_channels=(320, 640, 1280, 1280), attention_head_dim=64,
                 cross_attention_dim=1024, norm_num_groups=32, layers_per_block=2),
}


def patch_attention():
    from diffusers.models import attention_processor
    scores = attention_processor.Attention.get_attention_scores

    def scores_with_zero_bias(self, query, key, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.zeros(query.shape[0], query.shape[1], key.shape[1], dtype=query.dtype)
        return scores(self, query, key, attention_mask)

    attention_processor.Attention.get_attention_scores = scores_with_zero_bias


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def reset_peak_rss():
    # Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def matmul_gflops(n=2048, reps=5, dtype=torch.float32):
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def prepare(args):
    from diffusers import UNet3DConditionModel
    from safetensors.torch import save_file
    spec = CONFIGS[args.config]
    if args.inputs_only:
        # Only another input file for an existing model (the full model's training step runs
        # on a smaller input than its forward).
        write_inputs(args, spec, os.path.join(args.out, args.inputs_only))
        return
    torch.manual_seed(args.seed)
    model = UNet3DConditionModel(in_channels=4, out_channels=4, sample_size=args.size, **spec)
    g = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith(".weight") and p.dim() > 1 and not bool(p.any()):
                # diffusers zero-initialises the last temporal conv of each block: give it small
                # random values so the temporal convolutions show in the output difference.
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    params = sum(p.numel() for p in model.parameters())
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(os.path.join(args.out, "model"), safe_serialization=True, max_shard_size="100GB")
    del model
    shape = write_inputs(args, spec, os.path.join(args.out, "inputs.safetensors"))
    print(json.dumps({"prepared": args.config, "params": params, "out": args.out, "shape": list(shape),
                      "text": [args.text_len, spec["cross_attention_dim"]]}))


def write_inputs(args, spec, path):
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(args.seed + 2)
    shape = (args.batch, 4, args.frames, args.size, args.size)
    sample = torch.randn(shape, generator=g)
    context = torch.randn((args.batch, args.text_len, spec["cross_attention_dim"]), generator=g)
    target = torch.randn(shape, generator=g)
    timestep = torch.tensor([500 + 17 * i for i in range(args.batch)], dtype=torch.int64)
    save_file({"sample": sample, "timestep": timestep, "encoder_hidden_states": context, "target": target}, path)
    return shape


def run(args):
    from diffusers import UNet3DConditionModel
    from safetensors.torch import load_file, save_file
    torch.set_num_threads(args.threads)
    patch_attention()
    inputs = load_file(args.inputs)
    sample, timestep = inputs["sample"], inputs["timestep"]
    context, target = inputs["encoder_hidden_states"], inputs["target"]
    mm = matmul_gflops()

    t0 = time.perf_counter()
    model = UNet3DConditionModel.from_pretrained(args.model, low_cpu_mem_usage=False)
    load_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    peak_load_kb = status_kb("VmHWM")
    import gc
    gc.collect()
    reset_peak_rss()

    train = args.mode == "train"
    model.train(train)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if (train and args.optimizer == "adamw") else None
    out_saved = None

    def step():
        nonlocal out_saved
        if not train:
            with torch.no_grad():
                out = model(sample, timestep, encoder_hidden_states=context).sample
            out_saved = out
            return
        out = model(sample, timestep, encoder_hidden_states=context).sample
        loss = torch.nn.functional.mse_loss(out, target)
        loss.backward()
        if opt is not None:
            opt.step()
        model.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    times = []
    prof = None
    for i in range(args.iters):
        if args.profile and i == args.iters - 1:
            prof = torch.autograd.profiler.profile()
            prof.__enter__()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if prof is not None:
            prof.__exit__(None, None, None)
    if prof is not None:
        prof.export_chrome_trace(args.profile)
    if args.save_output and out_saved is not None:
        save_file({"output": out_saved.contiguous()}, args.save_output)
    result = {
        "impl": "diffusers-eager", "torch": torch.__version__, "mode": args.mode,
        "optimizer": args.optimizer if train else None, "dtype": "f32", "threads": torch.get_num_threads(),
        "params": params, "shape": list(sample.shape), "text": list(context.shape[1:]),
        "load_s": round(load_s, 3), "warmup": args.warmup, "times_s": [round(t, 4) for t in times],
        "median_s": round(statistics.median(times), 4) if times else None,
        "min_s": round(min(times), 4) if times else None,
        "peak_rss_load_mb": round(peak_load_kb / 1024, 1), "peak_rss_run_mb": round(status_kb("VmHWM") / 1024, 1),
        "matmul_f32_gflops": round(mm, 1),
    }
    if out_saved is not None:
        result["output_abs_mean"] = float(out_saved.abs().mean())
        result["output_finite"] = bool(torch.isfinite(out_saved).all())
    print(json.dumps(result), flush=True)


def profile_summary(args):
    """Self time per operator name from a chrome trace (vdm's RecordProfile or torch's
    profiler), summed over the trace: where a forward spends its time, by kernel."""
    rows = {}
    for path in args.traces:
        with open(path) as f:
            data = json.load(f)
        events = data["traceEvents"] if isinstance(data, dict) else data
        spans = {}
        for e in events:
            if e.get("ph") == "X" and "dur" in e:
                spans.setdefault(e.get("tid"), []).append((float(e["ts"]), float(e["dur"]), e["name"]))
        self_us, total_us = {}, 0.0
        for evs in spans.values():
            evs.sort(key=lambda x: (x[0], -x[1]))
            stack = []  # (end, name, child time)
            def close(item):
                end, name, child, dur = item
                self_us[name] = self_us.get(name, 0.0) + dur - child
            for ts, dur, name in evs:
                while stack and stack[-1][0] <= ts:
                    close(stack.pop())
                if stack:
                    stack[-1][2] += dur
                else:
                    total_us += dur
                stack.append([ts + dur, name, 0.0, dur])
            while stack:
                close(stack.pop())
        rows[path] = (self_us, total_us)
    names = set()
    for self_us, _ in rows.values():
        names |= set(self_us)
    key = lambda n: -max(r[0].get(n, 0.0) for r in rows.values())
    print("self time (ms) per op; columns: " + " | ".join(rows))
    for n in sorted(names, key=key)[: args.top]:
        print(f"{n:40s}" + "".join(f"{r[0].get(n, 0.0) / 1e3:12.1f}" for r in rows.values()))
    print(f"{'(top-level total)':40s}" + "".join(f"{r[1] / 1e3:12.1f}" for r in rows.values()))


def report(args):
    """Reads the JSON lines run_unet3d.sh collected and writes the markdown table: medians over
    every timed iteration of every round, ratio vdm / eager, bf16, memory, FLOP rate."""
    runs = []
    for path in args.results:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    r.setdefault("config", os.path.basename(path).split(".")[0].replace("unet3d_", ""))
                    runs.append(r)

    def pick(config, impl, mode, dtype="f32"):
        return [r for r in runs if r.get("config") == config and r["impl"] == impl and r["mode"] == mode
                and r["dtype"] == dtype and r.get("times_s")]

    def times(rs):
        return [t for r in rs for t in r["times_s"]]

    def med(rs):
        ts = times(rs)
        return statistics.median(ts) if ts else None

    def peak(rs):
        return max((max(r["peak_rss_load_mb"], r["peak_rss_run_mb"]) for r in rs), default=None)

    def peak_run(rs):
        return max((r["peak_rss_run_mb"] for r in rs), default=None)

    def fmt(v, d=2, unit=""):
        return "-" if v is None else f"{v:.{d}f}{unit}"

    def gb(mb):
        return "-" if mb is None else f"{mb / 1024:.2f}"

    lines = ["| config | params | input [B,C,F,H,W], text | what | vdm f32 (s) | eager f32 (s) | vdm / eager "
             "| vdm min / eager min | vdm bf16 (s) | bf16 vs f32 max / mean abs diff (out mean abs) "
             "| vdm f32 vs eager max abs diff | peak RSS vdm / eager, GB (after load) | peak RSS incl. load, GB "
             "| forward GFLOP | vdm GFLOP/s | fraction of f32 matmul | f32 matmul GFLOP/s | timed runs (vdm, eager) |",
             "|" + "---|" * 19]
    configs = []
    for r in runs:
        if r.get("config") not in configs:
            configs.append(r["config"])
    for config in configs:
        for mode in ("forward", "train"):
            v, e = pick(config, "vdm", mode), pick(config, "diffusers-eager", mode)
            if not v and not e:
                continue
            b = pick(config, "vdm", mode, "bf16")
            any_r = (v or e)[0]
            mv, me, mb = med(v), med(e), med(b)
            ratio = mv / me if mv and me else None
            ratio_min = min(times(v)) / min(times(e)) if v and e else None
            bf_diff, parity, gflop, rate, frac, mm = "-", "-", "-", "-", "-", "-"
            for r in b:
                for ref, d in r.get("vs", {}).items():
                    if "vdm_f32" in ref:
                        bf_diff = f"{d['max_abs_diff']:.3g} / {d['mean_abs_diff']:.3g} ({d['ref_abs_mean']:.3g})"
            for r in v:
                for ref, d in r.get("vs", {}).items():
                    if "eager_f32" in ref:
                        parity = f"{d['max_abs_diff']:.2g}"
            mms = [r["matmul_f32_gflops"] for r in v + e if "matmul_f32_gflops" in r]
            if mms:
                mm = f"{statistics.median(mms):.0f} (best {max(mms):.0f})"
            if v and mode == "forward":
                g = v[0]["forward_gflop"]
                gflop = f"{g:.1f}"
                rate = f"{g / mv:.1f}"
                frac = f"{g / mv / statistics.median(mms):.3f}"
            what = "forward (no grad)" if mode == "forward" else (
                "train step: fwd + MSE + bwd" + (" + AdamW" if any_r.get("optimizer") == "adamw" else ""))
            lines.append(
                f"| {config} | {any_r['params'] / 1e6:.1f}M | {any_r['shape']}, {any_r['text']} | {what} "
                f"| {fmt(mv)} | {fmt(me)} | {fmt(ratio)} | {fmt(ratio_min)} | {fmt(mb) if b else '-'} | {bf_diff} "
                f"| {parity if mode == 'forward' else '-'} | {gb(peak_run(v))} / {gb(peak_run(e))} "
                f"| {gb(peak(v))} / {gb(peak(e))} | {gflop} | {rate} | {frac} | {mm} | {len(times(v))}, {len(times(e))} |")
    threads = sorted({r["threads"] for r in runs})
    loads = [r["loadavg_start"] for r in runs if "loadavg_start" in r]
    lines.append("")
    if loads:
        lines.append(f"1-minute load average when each process started: {min(loads):.2f} to {max(loads):.2f} "
                     f"(median {statistics.median(loads):.2f}) on {os.cpu_count()} cores; above ~0.5 the times are "
                     "inflated by contention (docs/bench.md, Noise).")
    lines.append(f"threads: {threads}; torch {sorted({r['torch'] for r in runs})}; "
                 f"blas {sorted({r.get('blas', '') for r in runs if r.get('blas')})}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--config", choices=sorted(CONFIGS), required=True)
    pp.add_argument("--out", required=True)
    pp.add_argument("--batch", type=int, default=1)
    pp.add_argument("--frames", type=int, default=8)
    pp.add_argument("--size", type=int, default=32)
    pp.add_argument("--text-len", type=int, default=77)
    pp.add_argument("--seed", type=int, default=0)
    pp.add_argument("--inputs-only", metavar="NAME", help="write only an inputs file NAME into --out")
    pr = sub.add_parser("run")
    pr.add_argument("--model", required=True)
    pr.add_argument("--inputs", required=True)
    pr.add_argument("--mode", choices=["forward", "train"], default="forward")
    pr.add_argument("--optimizer", choices=["none", "adamw"], default="none")
    pr.add_argument("--threads", type=int, default=2)
    pr.add_argument("--warmup", type=int, default=1)
    pr.add_argument("--iters", type=int, default=3)
    pr.add_argument("--save-output", default="")
    pr.add_argument("--profile", default="", help="chrome trace of the last timed iteration")
    ps = sub.add_parser("profile-summary")
    ps.add_argument("traces", nargs="+")
    ps.add_argument("--top", type=int, default=25)
    rp = sub.add_parser("report")
    rp.add_argument("results", nargs="+", help="JSON-lines files (unet3d_<config>.jsonl)")
    rp.add_argument("--markdown", default="")
    args = p.parse_args()
    {"prepare": prepare, "run": run, "profile-summary": profile_summary, "report": report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
