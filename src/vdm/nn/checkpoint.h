// Activation checkpointing (Chen et al. 2016, arXiv:1604.06174): run a block without keeping
// its intermediate activations, and recompute them from the block's inputs during backward.
// Memory for activations drops from the whole network's to one block's, for about one extra
// forward of compute. The CPU random state is replayed, so dropout draws the same mask when
// the block is recomputed.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace vdm::nn {

using BlockFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

// fn(inputs) with activations recomputed in backward. Parameters used inside fn receive
// their gradients as usual; `inputs` get theirs through the returned tensor. Without grad
// mode (inference) it is simply fn(inputs).
torch::Tensor checkpoint(const BlockFn& fn, const std::vector<torch::Tensor>& inputs);

}  // namespace vdm::nn
