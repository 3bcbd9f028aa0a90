#include "vdm/nn/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

namespace vdm::nn {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The block and the random state it ran with, kept until backward.
struct Saved : torch::CustomClassHolder {
  BlockFn fn;
  at::Tensor rng_state;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // Runs with grad mode off (autograd::Function's forward always does): nothing is kept.
  // `inputs` must be a TensorList: autograd connects TensorList arguments to the graph, but
  // treats a std::vector argument as an opaque value.
  static variable_list forward(AutogradContext* ctx, const c10::intrusive_ptr<Saved>& saved,
                               at::TensorList inputs) {
    saved->rng_state = at::detail::getDefaultCPUGenerator().get_state();
    ctx->save_for_backward(inputs.vec());
    ctx->saved_data["block"] = c10::IValue::make_capsule(saved);
    return {saved->fn(inputs.vec())};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = c10::static_intrusive_pointer_cast<Saved>(ctx->saved_data["block"].toCapsule());
    variable_list inputs;
    for (const auto& x : ctx->get_saved_variables()) {
      inputs.push_back(x.defined() ? x.detach().requires_grad_(x.requires_grad()) : x);
    }
    auto generator = at::detail::getDefaultCPUGenerator();
    const auto current = generator.get_state();
    generator.set_state(saved->rng_state);
    torch::Tensor output;
    {
      torch::AutoGradMode enable(true);
      output = saved->fn(inputs);
    }
    generator.set_state(current);
    // Accumulates into the parameters' .grad and the detached inputs' .grad.
    torch::autograd::backward({output}, {grad_outputs[0]});
    variable_list grads = {torch::Tensor()};  // for the Saved argument (not a tensor)
    for (const auto& x : inputs) grads.push_back(x.defined() && x.requires_grad() ? x.grad() : torch::Tensor());
    return grads;
  }
};

}  // namespace

torch::Tensor checkpoint(const BlockFn& fn, const std::vector<torch::Tensor>& inputs) {
  if (!torch::GradMode::is_enabled()) return fn(inputs);
  auto saved = c10::make_intrusive<Saved>();
  saved->fn = fn;
  return CheckpointFunction::apply(saved, at::TensorList(inputs))[0];
}

}  // namespace vdm::nn
