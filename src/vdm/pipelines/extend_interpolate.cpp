#include "vdm/pipelines/extend_interpolate.h"

#include <algorithm>

#include "vdm/core/error.h"

namespace vdm::pipelines {

namespace {

void check_clip(const TextToVideoPipeline& pipe, const torch::Tensor& clip, const char* what) {
  const auto& c = pipe.model().config;
  VDM_CHECK(clip.dim() == 4 && clip.size(0) == 3 && clip.size(1) >= 1 && clip.size(2) == c.height &&
                clip.size(3) == c.width,
            "{}: the clip must be [3, F, {}, {}] (the model's size), got [{}]", what, c.height, c.width,
            fmt::join(clip.sizes(), ", "));
}

int64_t window_of(const TextToVideoPipeline& pipe, const ConditionalVideoParams& params, const char* what) {
  const int64_t window = params.window > 0 ? params.window : pipe.model().config.frames;
  VDM_CHECK(window >= 2 && window <= 4096, "{}: the window must be in [2, 4096] frames, got {}", what, window);
  return window;
}

// One window: `given` [3, L, H, W] holds the known frames where `known` [L] is true.
torch::Tensor fill_window(TextToVideoPipeline& pipe, const torch::Tensor& given, const torch::Tensor& known,
                          const std::string& prompt, const ConditionalVideoParams& params, int64_t index) {
  KnownFrames k;
  k.frames = given.unsqueeze(0);
  k.known = known;
  k.weight = params.weight;
  auto sampling = params.sampling;
  sampling.frames = given.size(1);
  return pipe.generate_batch({prompt}, {params.sampling.seed + static_cast<uint64_t>(index)}, sampling, &k)[0];
}

}  // namespace

torch::Tensor extend_video(TextToVideoPipeline& pipe, const torch::Tensor& clip, int64_t frames,
                           const std::string& prompt, const ConditionalVideoParams& params) {
  check_clip(pipe, clip, "extend");
  const int64_t window = window_of(pipe, params, "extend");
  const int64_t overlap = params.overlap > 0 ? params.overlap : window / 2;
  VDM_CHECK(overlap >= 1 && overlap < window, "extend: the overlap must be in [1, {}] frames, got {}", window - 1,
            overlap);
  VDM_CHECK(frames > clip.size(1) && frames <= 65536, "extend: the target length must be in ({}, 65536], got {}",
            clip.size(1), frames);
  std::vector<torch::Tensor> parts = {clip.to(torch::kFloat32)};
  int64_t have = clip.size(1);
  const int64_t first_known = std::min(overlap, have);
  const int64_t count = 1 + (std::max<int64_t>(frames - have - (window - first_known), 0) + window - overlap - 1) /
                                (window - overlap);
  for (int64_t index = 0; have < frames; ++index) {
    if (params.on_window) params.on_window(index, count);
    const auto sofar = torch::cat(parts, 1);
    const int64_t k = std::min(overlap, have);
    auto given = torch::zeros({3, window, clip.size(2), clip.size(3)});
    given.slice(1, 0, k).copy_(sofar.slice(1, have - k, have));
    const auto known = torch::arange(window) < k;
    const auto made = fill_window(pipe, given, known, prompt, params, index);  // [3, window, H, W]
    const int64_t take = std::min(window - k, frames - have);
    parts.push_back(made.slice(1, k, k + take));
    have += take;
  }
  return torch::cat(parts, 1).contiguous();
}

torch::Tensor interpolate_video(TextToVideoPipeline& pipe, const torch::Tensor& clip, int64_t factor,
                                const std::string& prompt, const ConditionalVideoParams& params) {
  check_clip(pipe, clip, "interpolate");
  const int64_t window = window_of(pipe, params, "interpolate");
  VDM_CHECK(factor >= 2 && factor < window, "interpolate: the factor must be in [2, {}] for a {}-frame window, got {}",
            window - 1, window, factor);
  const int64_t given_frames = clip.size(1);
  VDM_CHECK(given_frames >= 2, "interpolate: the clip needs at least 2 frames, has {}", given_frames);
  const int64_t per_window = (window - 1) / factor + 1;  // given frames in a full window
  const int64_t total = (given_frames - 1) * factor + 1;
  auto out = torch::zeros({3, total, clip.size(2), clip.size(3)});
  for (int64_t i = 0; i < given_frames; ++i) out.select(1, i * factor).copy_(clip.select(1, i));
  const int64_t count = (given_frames - 2) / (per_window - 1) + 1;
  for (int64_t index = 0, start = 0; start < given_frames - 1; ++index, start += per_window - 1) {
    if (params.on_window) params.on_window(index, count);
    const int64_t end = std::min(start + per_window - 1, given_frames - 1);  // given frames start..end
    const int64_t length = (end - start) * factor + 1;
    const auto given = out.slice(1, start * factor, start * factor + length).clone();
    const auto known = torch::arange(length).remainder(factor) == 0;
    const auto made = fill_window(pipe, given, known, prompt, params, index);
    for (int64_t j = 0; j < length; ++j) {
      if (j % factor != 0) out.select(1, start * factor + j).copy_(made.select(1, j));
    }
  }
  return out;
}

}  // namespace vdm::pipelines
