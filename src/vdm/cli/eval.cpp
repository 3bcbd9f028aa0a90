// vdm eval: score a text-to-video model on held-out moving-shapes prompts with the analytic
// detector (eval/detector.h).
//
//   vdm eval                                        # the shipped model, 200 prompts
//   vdm eval --checkpoint runs/shapes/model.safetensors --count 50 --out eval-shapes
//
// Prompt i is the caption of held-out clip i of the moving-shapes set (data/moving_shapes.h;
// single-object captions unless --two-objects), generated with seed i, so a prompt/seed pair
// is the same for every model and run. Writes DIR/report.md (the table, settings and the
// grid's prompts), DIR/report.json (the numbers and every clip's score) and DIR/grid.png
// (the first --grid clips, one row each).
#include <chrono>
#include <cmath>
#include <filesystem>

#include "vdm/cli/commands.h"
#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/data/moving_shapes.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/eval/conditional.h"
#include "vdm/eval/detector.h"
#include "vdm/eval/grid.h"
#include "vdm/eval/report.h"
#include "vdm/io/atomic_file.h"
#include "vdm/pipelines/text_to_video.h"
#include "vdm/train/loss_plot.h"

namespace vdm::cli {

namespace {

namespace fs = std::filesystem;

struct EvalFlags {
  std::string checkpoint;
  int64_t count = 200;
  std::string out = "eval";
  std::optional<int> steps;
  std::optional<double> guidance;
  std::string sampler;
  int64_t batch = 8;
  int64_t grid = 16;
  bool two_objects = false;
  std::string task = "generate";  // generate | extend | interpolate
  double weight = 2.0;            // w_r for extend / interpolate; 0: replacement
};

// --task extend / interpolate: held-out real clips give the known frames of one model-length
// window (extend: the clip's first half, from clips whose object never bounces, so the true
// continuation keeps its direction; interpolate: every other frame of the clip), the model
// fills the rest under reconstruction guidance, eval/conditional.h scores the result.
int run_conditional_eval(const EvalFlags& f, const GlobalOptions& global, pipelines::TextToVideoPipeline& pipe,
                         const data::MovingShapes& shapes, const pipelines::TextToVideoParams& params,
                         const std::string& model_path) {
  const bool extend = f.task == "extend";
  std::vector<std::string> prompts;
  std::vector<uint64_t> seeds;
  std::vector<torch::Tensor> reals;  // [3, F, H, W] each
  for (int64_t i = 0; static_cast<int64_t>(prompts.size()) < f.count; ++i) {
    VDM_CHECK(i < 100 * f.count + 1000, "eval: could not find {} held-out clips", f.count);
    auto sample = shapes.held_out_sample(i);
    if (sample.objects.size() != 1 || (extend && sample.objects.front().bounced)) continue;
    prompts.push_back(sample.caption);
    seeds.push_back(static_cast<uint64_t>(i));
    reals.push_back(std::move(sample.frames));
  }
  const auto& config = pipe.model().config;
  const int64_t clip_frames = config.frames;
  const int64_t window = extend ? clip_frames : clip_frames - 1;  // interpolate: frames 0, 2, .., 2(n-1)
  const int64_t given = extend ? clip_frames / 2 : 0;
  auto known = extend ? torch::arange(window) < given : torch::arange(window).remainder(2) == 0;
  int64_t found = 0, colour = 0, shape = 0, direction = 0, new_frames = 0, between = 0, missing = 0, all_between = 0;
  io::Json items = io::Json::array();
  std::vector<torch::Tensor> grid_clips;
  const auto start = std::chrono::steady_clock::now();
  Progress progress(fmt::format("eval {} (w_r {})", f.task, f.weight), f.count, global.progress());
  for (int64_t begin = 0; begin < f.count; begin += f.batch) {
    const int64_t end = std::min(f.count, begin + f.batch);
    std::vector<torch::Tensor> windows;
    for (int64_t i = begin; i < end; ++i) {
      const auto& real = reals[static_cast<size_t>(i)];
      auto w = torch::zeros({3, window, config.height, config.width});
      if (extend) {
        w.slice(1, 0, given).copy_(real.slice(1, 0, given));
      } else {
        for (int64_t j = 0; j < window; j += 2) w.select(1, j).copy_(real.select(1, j));
      }
      windows.push_back(w);
    }
    pipelines::KnownFrames k;
    k.frames = torch::stack(windows);
    k.known = known;
    k.weight = f.weight;
    const std::vector<std::string> batch_prompts(prompts.begin() + begin, prompts.begin() + end);
    const std::vector<uint64_t> batch_seeds(seeds.begin() + begin, seeds.begin() + end);
    const auto clips = pipe.generate_batch(batch_prompts, batch_seeds, params, &k);
    for (int64_t b = 0; b < end - begin; ++b) {
      io::Json item;
      item["prompt"] = batch_prompts[static_cast<size_t>(b)];
      item["seed"] = batch_seeds[static_cast<size_t>(b)];
      if (extend) {
        const auto s = eval::score_extension(clips[b], given, batch_prompts[static_cast<size_t>(b)]);
        found += s.found;
        colour += s.colour;
        shape += s.shape;
        direction += s.direction;
        item.update({{"found", s.found}, {"colour", s.colour}, {"shape", s.shape}, {"direction", s.direction},
                     {"given_direction", s.given_direction}, {"new_direction", s.new_direction}});
      } else {
        const auto s = eval::score_interpolation(clips[b], 2);
        new_frames += s.new_frames;
        between += s.between;
        missing += s.missing;
        all_between += s.all_between();
        item.update({{"new_frames", s.new_frames}, {"between", s.between}, {"missing", s.missing}});
      }
      items.push_back(item);
      if (static_cast<int64_t>(grid_clips.size()) < f.grid) grid_clips.push_back(clips[b]);
    }
    progress.advance(end - begin, extend ? fmt::format("continued {:.0f}%", 100.0 * direction / end)
                                         : fmt::format("between {:.0f}%", 100.0 * between / std::max<int64_t>(new_frames, 1)));
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto pct = [](int64_t a, int64_t b) { return b > 0 ? 100.0 * static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  std::string table;
  io::Json report;
  if (extend) {
    table = fmt::format(
        "| measure ({} clips: {} given frames, {} new) | value |\n| --- | ---: |\n| object found in the new frames | "
        "{:.1f}% |\n| same colour | {:.1f}% |\n| same shape | {:.1f}% |\n| same direction | {:.1f}% |\n",
        f.count, given, window - given, pct(found, f.count), pct(colour, f.count), pct(shape, f.count),
        pct(direction, f.count));
    report = {{"found", pct(found, f.count)}, {"colour", pct(colour, f.count)}, {"shape", pct(shape, f.count)},
              {"direction", pct(direction, f.count)}};
  } else {
    table = fmt::format(
        "| measure ({} clips: every other frame given, {} frames) | value |\n| --- | ---: |\n| new frames between "
        "their neighbours | {:.1f}% ({} of {}) |\n| clips with every new frame between | {:.1f}% |\n| new frames "
        "without the object | {:.1f}% |\n",
        f.count, window, pct(between, new_frames), between, new_frames, pct(all_between, f.count),
        pct(missing, new_frames));
    report = {{"between", pct(between, new_frames)}, {"all_between", pct(all_between, f.count)},
              {"missing", pct(missing, new_frames)}};
  }
  const std::string settings = fmt::format(
      "{} held-out clips, {} (reconstruction guidance w_r {}{}), {} {} steps, guidance {}, model {}", f.count, f.task,
      f.weight, f.weight == 0 ? ": the replacement baseline" : "", params.sampler.value_or(pipe.defaults().sampler),
      params.steps.value_or(pipe.defaults().steps), params.guidance.value_or(pipe.defaults().guidance), model_path);
  std::string md = fmt::format("# vdm eval --task {}\n\n{}\n\n{}", f.task, settings, table);
  if (!grid_clips.empty()) {
    eval::GridOptions grid_options;
    grid_options.scale = 2;
    train::write_png((fs::path(f.out) / "grid.png").string(), eval::make_grid(grid_clips, grid_options));
    md += "\n![samples](grid.png)\n";
  }
  io::Json json;
  json["settings"] = {{"task", f.task}, {"weight", f.weight}, {"count", f.count}, {"model", model_path},
                      {"seconds", seconds}};
  json["report"] = report;
  json["items"] = items;
  io::write_file_atomic((fs::path(f.out) / "report.md").string(), md);
  io::write_file_atomic((fs::path(f.out) / "report.json").string(), json.dump(2) + "\n");
  fmt::print("{}\n{}", settings, table);
  fmt::print("evaluated {} clips in {:.1f} s; wrote {}/report.md, report.json\n", f.count, seconds, f.out);
  return 0;
}

int run_eval(const EvalFlags& f, const GlobalOptions& global) {
  // 1. Flags.
  VDM_USAGE_CHECK(f.count >= 1 && f.count <= 100000, "--count must be in [1, 100000], got {}", f.count);
  VDM_USAGE_CHECK(f.batch >= 1 && f.batch <= 1024, "--batch must be in [1, 1024], got {}", f.batch);
  VDM_USAGE_CHECK(f.grid >= 0 && f.grid <= 1000, "--grid must be in [0, 1000], got {}", f.grid);
  VDM_USAGE_CHECK(!f.out.empty(), "--out DIR must not be empty");
  VDM_USAGE_CHECK(!f.steps || (*f.steps >= 1 && *f.steps <= 10000), "--steps must be in [1, 10000], got {}",
                  f.steps.value_or(0));
  VDM_USAGE_CHECK(!f.guidance || (std::isfinite(*f.guidance) && *f.guidance >= 0 && *f.guidance <= 100),
                  "--guidance must be in [0, 100], got {}", f.guidance.value_or(0));
  VDM_USAGE_CHECK(f.task == "generate" || f.task == "extend" || f.task == "interpolate",
                  "--task must be generate, extend or interpolate, got '{}'", f.task);
  VDM_USAGE_CHECK(std::isfinite(f.weight) && f.weight >= 0 && f.weight <= 1000, "--weight must be in [0, 1000], got {}",
                  f.weight);
  VDM_USAGE_CHECK(f.task == "generate" || !f.two_objects, "--two-objects applies to --task generate only");
  if (!f.sampler.empty()) sampler_flag(f.sampler);
  if (!f.checkpoint.empty()) input_path_flag("--checkpoint", f.checkpoint);
  const torch::Device device = parse_device(global.device);
  const torch::Dtype dtype = parse_dtype(global.dtype, device);
  std::error_code ec;
  fs::create_directories(f.out, ec);
  VDM_CHECK(!ec, "--out {}: cannot create the folder: {}", f.out, ec.message());

  // 2. Model and prompts.
  const std::string model_path = f.checkpoint.empty() ? pipelines::default_model_path() : f.checkpoint;
  auto pipe = pipelines::TextToVideoPipeline::load(model_path, device, dtype);
  const auto& config = pipe.model().config;
  data::MovingShapesOptions shapes_options;
  shapes_options.frames = config.frames;
  shapes_options.height = config.height;
  shapes_options.width = config.width;
  const data::MovingShapes shapes(shapes_options);

  // 3. Generate in batches and score.
  pipelines::TextToVideoParams params;
  if (!f.sampler.empty()) params.sampler = f.sampler;
  params.steps = f.steps;
  params.guidance = f.guidance;
  if (f.task != "generate") return run_conditional_eval(f, global, pipe, shapes, params, model_path);
  std::vector<std::string> prompts;
  std::vector<uint64_t> seeds;
  for (int64_t i = 0; static_cast<int64_t>(prompts.size()) < f.count; ++i) {
    VDM_CHECK(i < 100 * f.count + 1000, "eval: could not find {} held-out prompts", f.count);
    auto caption = shapes.held_out_sample(i).caption;
    if (!f.two_objects && data::parse_caption(caption).size() > 1) continue;
    prompts.push_back(std::move(caption));
    seeds.push_back(static_cast<uint64_t>(i));
  }
  const auto start = std::chrono::steady_clock::now();
  eval::EvalReport report;
  io::Json items = io::Json::array();
  std::vector<torch::Tensor> grid_clips;
  Progress progress("eval", f.count, global.progress());
  for (int64_t begin = 0; begin < f.count; begin += f.batch) {
    const int64_t end = std::min(f.count, begin + f.batch);
    const std::vector<std::string> batch_prompts(prompts.begin() + begin, prompts.begin() + end);
    const std::vector<uint64_t> batch_seeds(seeds.begin() + begin, seeds.begin() + end);
    const auto clips = pipe.generate_batch(batch_prompts, batch_seeds, params);  // [B, 3, F, H, W]
    for (int64_t b = 0; b < end - begin; ++b) {
      const auto score = eval::score(eval::detect(clips[b]), batch_prompts[static_cast<size_t>(b)]);
      report.add(score);
      io::Json item;
      item["prompt"] = batch_prompts[static_cast<size_t>(b)];
      item["seed"] = batch_seeds[static_cast<size_t>(b)];
      io::Json objects = io::Json::array();
      for (const auto& o : score.objects) {
        objects.push_back({{"found", o.found},
                           {"colour", o.colour},
                           {"shape", o.shape},
                           {"direction", o.direction},
                           {"detected_direction", o.detected_direction},
                           {"velocity", o.velocity},
                           {"present_fraction", o.present_fraction},
                           {"stable_fraction", o.stable_fraction}});
      }
      item["objects"] = objects;
      item["extra_objects"] = score.extra_objects;
      items.push_back(item);
      if (static_cast<int64_t>(grid_clips.size()) < f.grid) grid_clips.push_back(clips[b]);
    }
    progress.advance(end - begin, fmt::format("colour {:.0f}% shape {:.0f}% direction {:.0f}%",
                                              100 * report.colour_accuracy(), 100 * report.shape_accuracy(),
                                              100 * report.direction_accuracy()));
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // 4. Reports.
  const std::string sampler = params.sampler.value_or(pipe.defaults().sampler);
  const int steps = params.steps.value_or(pipe.defaults().steps);
  const double guidance = params.guidance.value_or(pipe.defaults().guidance);
  const std::string settings = fmt::format(
      "{} held-out prompt/seed pairs ({}), {} {} steps, guidance {}, {} frames of {}x{}, model {}", f.count,
      f.two_objects ? "one- and two-object captions" : "single-object captions", sampler, steps, guidance,
      config.frames, config.width, config.height, model_path);
  const auto grid_path = (fs::path(f.out) / "grid.png").string();
  std::string md = fmt::format("# vdm eval\n\n{}\n\n{}\nDirections drawn (objects) for each asked one:\n\n{}",
                               settings, report.markdown(), report.direction_confusion_markdown());
  if (!grid_clips.empty()) {
    eval::GridOptions grid_options;
    grid_options.scale = 2;
    train::write_png(grid_path, eval::make_grid(grid_clips, grid_options));
    md += "\n![samples](grid.png)\n\nGrid rows, top to bottom (prompt, seed):\n\n";
    for (size_t i = 0; i < grid_clips.size(); ++i) md += fmt::format("{}. {} (seed {})\n", i + 1, prompts[i], seeds[i]);
  }
  io::Json json;
  json["settings"] = {{"count", f.count},   {"sampler", sampler},         {"steps", steps},
                      {"guidance", guidance}, {"two_objects", f.two_objects}, {"model", model_path},
                      {"seconds", seconds}};
  json["report"] = report.to_json();
  json["items"] = items;
  io::write_file_atomic((fs::path(f.out) / "report.md").string(), md);
  io::write_file_atomic((fs::path(f.out) / "report.json").string(), json.dump(2) + "\n");

  fmt::print("{}\n{}\n", settings, report.markdown());
  fmt::print("evaluated {} clips in {:.1f} s; wrote {}/report.md, report.json{}\n", f.count, seconds, f.out,
             grid_clips.empty() ? "" : ", grid.png");
  return 0;
}

}  // namespace

Runner setup_eval(CLI::App& command, const GlobalOptions& global) {
  auto flags = std::make_shared<EvalFlags>();
  command.add_option("--checkpoint", flags->checkpoint,
                     "model file or training checkpoint (default: models/vdm-moving-shapes.safetensors)");
  command.add_option("--count", flags->count, "held-out prompt/seed pairs to render")->capture_default_str();
  command.add_option("--out", flags->out, "folder for report.md, report.json and grid.png")->capture_default_str();
  command.add_option("--steps", flags->steps, "sampling steps (default: the model's)");
  command.add_option("--guidance", flags->guidance, "classifier-free guidance scale (default: the model's)");
  command.add_option("--sampler", flags->sampler, "one of: " + diffusion::sampler_names() + " (default: the model's)");
  command.add_option("--batch", flags->batch, "clips generated together")->capture_default_str();
  command.add_option("--grid", flags->grid, "clips shown in grid.png (0: no grid)")->capture_default_str();
  command.add_flag("--two-objects", flags->two_objects, "include two-object captions (default: single objects)");
  command.add_option("--task", flags->task,
                     "generate (from the caption), extend (continue the first half of clips that do not bounce) or "
                     "interpolate (fill in every other frame)")
      ->capture_default_str();
  command.add_option("--weight", flags->weight, "extend/interpolate: reconstruction guidance w_r (0: replacement)")
      ->capture_default_str();
  return [flags, &global] { return run_eval(*flags, global); };
}

}  // namespace vdm::cli
