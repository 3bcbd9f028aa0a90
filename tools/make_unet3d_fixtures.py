#!/usr/bin/env python3
"""Reference fixtures for vdm's 3D U-Net: diffusers' UNet3DConditionModel on tiny random configs.

For each config: the model folder as diffusers saves it (config.json +
diffusion_pytorch_model.safetensors), and io.safetensors with the inputs (sample, timestep,
encoder_hidden_states) and diffusers' output. For the first config also a 4-step DDIM
sample with classifier-free guidance from given latents and prompt embeddings
(ddim.safetensors + scheduler/scheduler_config.json).

Run with the reference environment (tools/README.md):
    . /work/pyenv/env.sh && /usr/bin/python3 tools/make_unet3d_fixtures.py
"""
import json
import os
import shutil

import torch
from diffusers import DDIMScheduler, UNet3DConditionModel
from diffusers.models import attention_processor
from safetensors.torch import save_file

# diffusers' AttnProcessor (the torch 1.x path) passes torch.empty(...) to baddbmm with beta=0.
# On Debian's torch 1.13 CPU build that uninitialised memory can leak NaN into the scores, so
# give it an explicit zero bias instead: the same math, with beta=1.
_scores = attention_processor.Attention.get_attention_scores


def _scores_with_zero_bias(self, query, key, attention_mask=None):
    if attention_mask is None:
        attention_mask = torch.zeros(query.shape[0], query.shape[1], key.shape[1], dtype=query.dtype)
    return _scores(self, query, key, attention_mask)


attention_processor.Attention.get_attention_scores = _scores_with_zero_bias

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "unet3d")

CONFIGS = {
    # two levels, attention at the top level, one layer per block
    "a": dict(block_out_channels=(4, 8), down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
              up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), layers_per_block=1,
              norm_num_groups=2, attention_head_dim=2, cross_attention_dim=4, shape=(2, 4, 3, 8, 8)),
    # three levels, attention at two, two layers per block, wider text embeddings
    "b": dict(block_out_channels=(4, 8, 8),
              down_block_types=("CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"),
              up_block_types=("UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"),
              layers_per_block=2, norm_num_groups=2, attention_head_dim=4, cross_attention_dim=12,
              shape=(1, 4, 4, 12, 12)),
    # attention only at the lower level, odd spatial size (forces upsampling to the skip size)
    "c": dict(block_out_channels=(8, 8), down_block_types=("DownBlock3D", "CrossAttnDownBlock3D"),
              up_block_types=("CrossAttnUpBlock3D", "UpBlock3D"), layers_per_block=1,
              norm_num_groups=2, attention_head_dim=8, cross_attention_dim=6, shape=(2, 4, 2, 10, 6)),
}


def randomize(model, seed):
    # diffusers zero-initialises some layers (the temporal convs' last conv); random weights
    # everywhere make every path visible in the output.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def main():
    torch.manual_seed(0)
    for i, (name, spec) in enumerate(CONFIGS.items()):
        spec = dict(spec)
        shape = spec.pop("shape")
        model = UNet3DConditionModel(in_channels=4, out_channels=4, sample_size=shape[-1], **spec)
        randomize(model, 100 + i)
        model.eval()
        folder = os.path.join(OUT, name)
        shutil.rmtree(folder, ignore_errors=True)
        model.save_pretrained(folder, safe_serialization=True)
        g = torch.Generator().manual_seed(200 + i)
        sample = torch.randn(shape, generator=g)
        context = torch.randn((shape[0], 5, spec["cross_attention_dim"]), generator=g)
        timestep = torch.tensor([17, 933][: shape[0]], dtype=torch.int64)
        with torch.no_grad():
            out = model(sample, timestep, encoder_hidden_states=context).sample
        save_file({"sample": sample, "timestep": timestep, "encoder_hidden_states": context,
                   "output": out.contiguous()}, os.path.join(folder, "io.safetensors"))
        print(name, sum(p.numel() for p in model.parameters()), "parameters; |out| mean",
              float(out.abs().mean()))

        if name == "a":
            ddim_fixture(model, folder, spec["cross_attention_dim"])


def ddim_fixture(model, folder, cross_dim):
    """4 DDIM steps with classifier-free guidance (scale 7.5), as TextToVideoSDPipeline runs them."""
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    scheduler.save_pretrained(os.path.join(folder, "scheduler"))
    g = torch.Generator().manual_seed(300)
    latents = torch.randn((1, 4, 3, 8, 8), generator=g)
    prompt_embeds = torch.randn((1, 5, cross_dim), generator=g)
    negative = torch.randn((1, 5, cross_dim), generator=g)
    guidance = 7.5
    scheduler.set_timesteps(4)
    z = latents * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            inp = torch.cat([z, z])
            noise = model(inp, t, encoder_hidden_states=torch.cat([negative, prompt_embeds])).sample
            uncond, cond = noise.chunk(2)
            noise = uncond + guidance * (cond - uncond)
            z = scheduler.step(noise, t, z).prev_sample
    save_file({"latents": latents, "prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative,
               "timesteps": scheduler.timesteps.clone(), "sample": z.contiguous()},
              os.path.join(folder, "ddim.safetensors"))
    with open(os.path.join(folder, "ddim.json"), "w") as f:
        json.dump({"steps": 4, "guidance_scale": guidance}, f)
    print("ddim timesteps", scheduler.timesteps.tolist())


if __name__ == "__main__":
    main()
