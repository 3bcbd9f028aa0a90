#!/usr/bin/env python3
"""Makes the diffusers scheduler parity fixtures in tests/fixtures/schedulers/.

For each scheduler config below, runs diffusers' own scheduler code (v0.29.2, from source; see
/work/pyenv/env.sh) over given small latents with the analytic Gaussian denoiser and records:

  <name>/scheduler_config.json   the config as diffusers' save_config writes it (every field,
                                 defaults included; "-Infinity" where Python writes it)
  trajectories.json              per case: timesteps, init_noise_sigma, the latents, every
                                 model input (z in variance-preserving units: what the model
                                 sees after scale_model_input), the noise the stochastic
                                 schedulers drew (replayed by the C++ test), and the final
                                 sample (VP units too: Euler's own sample, in sigma/alpha
                                 units, is divided by sqrt(1 + sigma_last^2); final_raw keeps
                                 diffusers' value).

The analytic denoiser: data x ~ N(MEAN, STD^2) per coordinate, so
    E[x | z_t] = mu + alpha s^2 (z - alpha mu) / (alpha^2 s^2 + sigma^2)
converted to the config's prediction type (eps = (z - alpha x) / sigma,
v = alpha eps - sigma x). alpha, sigma come from the scheduler's own alphas_cumprod (DDIM,
DDPM) or sigmas (DPM-Solver, Euler: alpha = 1 / sqrt(1 + sigma^2)).

Run:  . /work/pyenv/env.sh && /usr/bin/python3 tools/make_scheduler_fixtures.py
Not a build or test dependency; the C++ test (tests/diffusion/test_scheduler_parity.cpp)
reads the committed outputs.
"""
import json
import math
import os
import sys

import numpy as np
import torch

import diffusers
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler,
                       EulerDiscreteScheduler)
import diffusers.schedulers.scheduling_ddim as ddim_module
import diffusers.schedulers.scheduling_ddpm as ddpm_module

MEAN, STD = 0.2, 0.8
SHAPE = [1, 2, 2, 3, 3]  # [B, C, F, H, W]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "schedulers")

CLASSES = {
    "DDIMScheduler": DDIMScheduler,
    "DDPMScheduler": DDPMScheduler,
    "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler,
    "EulerDiscreteScheduler": EulerDiscreteScheduler,
}

TRAINED_BETAS = [float(b) for b in np.linspace(0.001, 0.2, 100) ** 1.5]

# name, class, config overrides, steps, extra step kwargs
CASES = [
    ("ddim_leading_eps_sd", "DDIMScheduler",
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
          set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading"), 10, {}),
    ("ddim_trailing_v_zero_snr", "DDIMScheduler",
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
          prediction_type="v_prediction", rescale_betas_zero_snr=True,
          timestep_spacing="trailing"), 7, {}),
    ("ddim_linspace_sample_clip", "DDIMScheduler",
     dict(prediction_type="sample", clip_sample=True, clip_sample_range=1.0,
          timestep_spacing="linspace"), 12, {}),
    ("ddim_trained_betas_eta", "DDIMScheduler",
     dict(num_train_timesteps=100, trained_betas=TRAINED_BETAS, clip_sample=False,
          timestep_spacing="trailing"), 9, dict(eta=0.5)),
    ("ddpm_leading_eps_threshold_fixed_large", "DDPMScheduler",
     dict(beta_schedule="squaredcos_cap_v2", thresholding=True, dynamic_thresholding_ratio=0.9,
          sample_max_value=1.5, timestep_spacing="leading", variance_type="fixed_large"), 10, {}),
    # fixed_large is not combined with trailing/linspace: there diffusers adds noise on the
    # step that lands on clean data (its last timestep is > 0) and vdm does not (docs).
    ("ddpm_trailing_v_fixed_small_log", "DDPMScheduler",
     dict(prediction_type="v_prediction", variance_type="fixed_small_log", clip_sample=False,
          timestep_spacing="trailing"), 8, {}),
    ("ddpm_linspace_sample_sigmoid", "DDPMScheduler",
     dict(beta_schedule="sigmoid", prediction_type="sample", clip_sample=True,
          timestep_spacing="linspace"), 11, {}),
    ("dpm_linspace_eps", "DPMSolverMultistepScheduler",
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012), 10, {}),
    ("dpm_leading_v_sigma_min_threshold", "DPMSolverMultistepScheduler",
     dict(prediction_type="v_prediction", final_sigmas_type="sigma_min", steps_offset=1,
          timestep_spacing="leading", thresholding=True, sample_max_value=3.0), 20, {}),
    ("dpm_trailing_v_zero_snr", "DPMSolverMultistepScheduler",
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
          prediction_type="v_prediction", rescale_betas_zero_snr=True,
          timestep_spacing="trailing"), 8, {}),
    ("dpm_linspace_sample_cos_clipped", "DPMSolverMultistepScheduler",
     dict(beta_schedule="squaredcos_cap_v2", prediction_type="sample", lambda_min_clipped=-5.1,
          lower_order_final=False), 16, {}),
    ("euler_linspace_eps", "EulerDiscreteScheduler",  # 8 steps: non-integer timesteps
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012), 8, {}),
    ("euler_leading_v_sigma_min", "EulerDiscreteScheduler",
     dict(prediction_type="v_prediction", steps_offset=1, timestep_spacing="leading",
          final_sigmas_type="sigma_min"), 12, {}),
    ("euler_trailing_v_zero_snr", "EulerDiscreteScheduler",
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
          prediction_type="v_prediction", rescale_betas_zero_snr=True,
          timestep_spacing="trailing"), 6, {}),
    ("euler_continuous_v", "EulerDiscreteScheduler",
     dict(prediction_type="v_prediction", timestep_type="continuous"), 9, {}),
]


def analytic_prediction(z, alpha, sigma, prediction_type):
    """E[x | z] for x ~ N(MEAN, STD^2), in the config's prediction type (float64)."""
    z = z.double()
    s2 = STD * STD
    x = MEAN + alpha * s2 * (z - alpha * MEAN) / (alpha * alpha * s2 + sigma * sigma)
    if prediction_type == "sample":
        return x
    eps = (z - alpha * x) / sigma
    if prediction_type == "epsilon":
        return eps
    return alpha * eps - sigma * x  # v_prediction


class NoiseRecorder:
    """Wraps diffusers' randn_tensor in the DDIM and DDPM modules and keeps every draw."""

    def __init__(self):
        self.draws = []
        self.originals = (ddim_module.randn_tensor, ddpm_module.randn_tensor)

    def __enter__(self):
        original = self.originals[0]

        def recording(*args, **kwargs):
            out = original(*args, **kwargs)
            self.draws.append(out.clone())
            return out

        ddim_module.randn_tensor = recording
        ddpm_module.randn_tensor = recording
        return self

    def __exit__(self, *exc):
        ddim_module.randn_tensor, ddpm_module.randn_tensor = self.originals


def flat(t):
    return [float(v) for v in t.detach().double().reshape(-1).tolist()]


def run_case(name, class_name, overrides, steps, step_kwargs, latents):
    cls = CLASSES[class_name]
    scheduler = cls(**overrides)
    config_dir = os.path.join(OUT, name)
    os.makedirs(config_dir, exist_ok=True)
    scheduler.save_config(config_dir)
    # Read back what was written, the way a user's model folder would be loaded.
    scheduler = cls.from_pretrained(config_dir)
    scheduler.set_timesteps(steps)
    pred_type = scheduler.config.prediction_type
    init_noise_sigma = float(scheduler.init_noise_sigma)
    sample = latents * scheduler.init_noise_sigma  # as diffusers' pipelines prepare latents
    generator = torch.Generator().manual_seed(0)
    model_inputs, noises, per_step_noise = [], [], []
    with NoiseRecorder() as recorder:
        for i, t in enumerate(scheduler.timesteps):
            model_input = scheduler.scale_model_input(sample, t)
            if class_name in ("DDIMScheduler", "DDPMScheduler"):
                abar = float(scheduler.alphas_cumprod[int(t)])
                alpha, sigma = math.sqrt(abar), math.sqrt(1.0 - abar)
            else:
                sigma_ve = float(scheduler.sigmas[i])
                alpha = 1.0 / math.sqrt(sigma_ve * sigma_ve + 1.0)
                sigma = sigma_ve * alpha
            output = analytic_prediction(model_input, alpha, sigma, pred_type).to(latents.dtype)
            model_inputs.append(flat(model_input))
            before = len(recorder.draws)
            kwargs = dict(step_kwargs)
            if class_name in ("DDIMScheduler", "DDPMScheduler"):
                kwargs["generator"] = generator
            sample = scheduler.step(output, t, sample, **kwargs).prev_sample
            drawn = recorder.draws[before:]
            per_step_noise.append(flat(drawn[0]) if drawn else None)
    final_vp = sample
    if class_name == "EulerDiscreteScheduler":
        final_vp = sample / math.sqrt(float(scheduler.sigmas[-1]) ** 2 + 1.0)
    return {
        "name": name,
        "class": class_name,
        "config": name + "/scheduler_config.json",
        "steps": steps,
        "eta": float(step_kwargs.get("eta", 0.0)),
        "timesteps": [float(v) for v in scheduler.timesteps.tolist()],
        "init_noise_sigma": init_noise_sigma,
        "model_inputs": model_inputs,
        "noise": per_step_noise,
        "final": flat(final_vp),
        "final_raw": flat(sample),
    }


def main():
    torch.manual_seed(0)
    latents = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1234),
                          dtype=torch.float64)
    os.makedirs(OUT, exist_ok=True)
    cases = [run_case(*case, latents) for case in CASES]
    fixture = {
        "format": "vdm scheduler parity fixture v1",
        "made_by": "tools/make_scheduler_fixtures.py",
        "diffusers_version": diffusers.__version__,
        "torch_version": torch.__version__,
        "data": {"mean": MEAN, "std": STD},
        "shape": SHAPE,
        "dtype": "float64",
        "latents": flat(latents),
        "cases": cases,
    }
    path = os.path.join(OUT, "trajectories.json")
    with open(path, "w") as f:
        json.dump(fixture, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(path)}", file=sys.stderr)


if __name__ == "__main__":
    main()
