// The factorized space-time 3D U-Net of Video Diffusion Models (Ho, Salimans et al. 2022,
// arXiv:2204.03458, Sec. 3), after the 3D U-Net of Cicek et al. 2016: every layer works over
// space or over time, never both. Space: 1x3x3 convolutions and spatial attention with frames
// as batch. Time: a temporal attention block after every spatial attention block (space as
// batch, frame order from relative position bias or sinusoids), and optionally temporal
// convolutions after each residual block (ModelScope, Make-A-Video).
//
// diffusers' UNet3DConditionModel (ModelScope text-to-video) is one configuration of it, and
// the module tree uses its names, so its checkpoints load by key (UNet3DConfig::from_diffusers).
//
// Internally activations use the frames-folded layout [(B F), C, H, W], so spatial layers run
// as fast 2D kernels; the interface takes and returns [B, C, F, H, W].
//
//   auto config = vdm::models::UNet3DConfig::from_json(json);
//   vdm::models::UNet3D unet(config);
//   auto out = unet->forward(z_t, timesteps, text_embeddings);  // [B, C, F, H, W]
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "vdm/io/json.h"
#include "vdm/io/safetensors.h"
#include "vdm/nn/embeddings.h"
#include "vdm/nn/resnet.h"
#include "vdm/nn/transformer.h"

namespace vdm::models {

struct UNet3DConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};  // one per level
  std::vector<bool> attention_levels = {true, true, true, false};     // spatial+temporal attention
  int64_t layers_per_block = 2;  // residual blocks per down level (up levels get one more)
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  int64_t cross_attention_dim = 1024;  // text-embedding width; 0: unconditional model
  // Width of each attention head per level (heads = channels / width), as diffusers'
  // UNet3DConditionModel reads its `attention_head_dim`. One value applies to every level.
  std::vector<int64_t> attention_head_dim = {64};
  bool linear_projection = true;  // Linear proj_in/proj_out in spatial attention (else 1x1 conv)
  bool temporal_conv = true;      // ModelScope's temporal convolutions after each resnet
  std::string frame_position = "none";  // temporal attention: none | relative | sinusoidal
  bool transformer_in = true;           // a temporal attention right after conv_in (ModelScope)
  int64_t transformer_in_heads = 8;
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  double dropout = 0.0;
  std::string prediction = "eps";  // what the network predicts: eps | x | v
  // "" or "text": diffusers' addition_embed_type. "text" pools the text tokens into a vector
  // added to the timestep embedding (nn::TextTimeEmbedding, as in Imagen and UNet2DCondition).
  std::string addition_embed_type;
  int64_t addition_embed_type_num_heads = 64;
  // vdm's own (not in diffusers): give every frame its own conditioning vector, an MLP of the
  // pooled prompt (addition_embed_type "text") and a sinusoid of the frame index, added to
  // that frame's timestep embedding. The residual blocks then see "frame k of a clip moving
  // right" directly, not only through the temporal layers. Its output layer starts at zero,
  // so a model that gains it starts out computing what it computed without it.
  bool frame_text_embedding = false;

  int64_t levels() const { return static_cast<int64_t>(block_out_channels.size()); }
  int64_t head_dim(int64_t level) const;
  int64_t time_embed_dim() const { return block_out_channels[0] * 4; }

  // Throws vdm::Error naming the field for impossible settings.
  void validate() const;
  // An upper bound on the parameter count, from the config alone (generous constants: a few
  // times the true count). Files are checked against it before a model is built, so a config
  // in a small file cannot make vdm allocate a huge model (check_model_fits_file).
  double parameter_bound() const;

  io::Json to_json() const;
  static UNet3DConfig from_json(const io::Json& json);  // vdm's own format (to_json's)
  // A diffusers UNet3DConditionModel config.json. Fields it cannot honour are errors.
  static UNet3DConfig from_diffusers(const io::Json& json);
  // Reads either format: diffusers configs carry "_class_name".
  static UNet3DConfig from_file(const std::string& path);

  // Presets. tiny(): for tests; modelscope(): diffusers' defaults (ModelScope text-to-video,
  // ~1.4B parameters with its 1024-wide text embeddings).
  static UNet3DConfig tiny();
  static UNet3DConfig modelscope();
};

struct UNet3DForwardOptions {
  torch::Tensor is_image;  // [B] bool: these items skip temporal mixing (joint image-video training)
  bool temporal = true;    // false: skip every temporal layer (the image model, frame by frame)
  // Keep no activations inside residual and attention units; recompute them in backward
  // (less memory for about one more forward of compute). Training only.
  bool gradient_checkpointing = false;
};

// One level of the down or up path: resnets (+ temporal convs) (+ spatial and temporal
// attention), then a down- or up-sampler. diffusers' CrossAttnDownBlock3D / DownBlock3D /
// CrossAttnUpBlock3D / UpBlock3D, as one module with options.
class UNetLevelImpl : public torch::nn::Module {
 public:
  struct Options {
    int64_t layers;
    std::vector<int64_t> resnet_in, resnet_out;  // per layer
    bool attention;
    bool temporal_conv;
    int64_t head_dim;
    bool downsample, upsample;
    bool up_path = false;  // consumes skips (concatenated before each resnet)
    bool mid = false;  // the middle block: resnet, then (attention, resnet) pairs
    double output_scale_factor = 1.0;
  };
  UNetLevelImpl(const Options& options, const UNet3DConfig& config);

  torch::nn::ModuleList resnets, temp_convs, attentions, temp_attentions, downsamplers, upsamplers;
  Options options;
};
TORCH_MODULE(UNetLevel);

class UNet3DImpl : public torch::nn::Module {
 public:
  explicit UNet3DImpl(const UNet3DConfig& config);

  // sample: [B, Cin, F, H, W]; timestep: [B] or [] (the model's own time input: diffusers'
  // integer timesteps for diffusers models); context: [B, L, Dc] text embeddings (required
  // when cross_attention_dim > 0). Returns [B, Cout, F, H, W].
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                        const torch::Tensor& context = {}, const UNet3DForwardOptions& options = {});

  const UNet3DConfig& config() const { return config_; }
  int64_t parameter_count() const;

  nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  nn::TimestepEmbedding time_embedding{nullptr};
  nn::TextTimeEmbedding add_embedding{nullptr};  // addition_embed_type "text" only
  nn::TimestepEmbedding frame_embedding{nullptr};  // frame_text_embedding only
  nn::TemporalTransformer transformer_in{nullptr};
  torch::nn::ModuleList down_blocks, up_blocks;
  UNetLevel mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};

 private:
  torch::Tensor level_forward(UNetLevelImpl& level, torch::Tensor h, const torch::Tensor& temb,
                              const torch::Tensor& context, int64_t frames,
                              const UNet3DForwardOptions& options, std::vector<torch::Tensor>* skips,
                              const std::vector<int64_t>& upsample_size);
  UNet3DConfig config_;
};
TORCH_MODULE(UNet3D);

// Saves the weights (float32 or the model's dtype) with the config in the file's metadata
// ("vdm.config"), atomically.
void save_unet3d(const std::string& path, const UNet3D& unet, const io::Metadata& extra = {});

// Loads a vdm checkpoint (.safetensors carrying "vdm.config") or a diffusers
// UNet3DConditionModel folder (config.json + weights, sharded or not).
UNet3D load_unet3d(const std::string& path);

}  // namespace vdm::models
