#include "vdm/core/chunked_attention.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>
#include <vector>

#include "vdm/core/error.h"
#include "vdm/core/softmax_rows.h"
#include "vdm/core/torch_compat.h"

namespace vdm {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Autograd is needed when grad mode is on and an input wants a gradient.
bool needs_autograd(std::initializer_list<torch::Tensor> inputs) {
  if (!torch::GradMode::is_enabled()) return false;
  for (const auto& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

// Autograd Functions take defined tensors only: no bias travels as an empty one.
torch::Tensor bias_or_empty(const torch::Tensor& bias, const torch::Tensor& like) {
  return bias.defined() ? bias : torch::empty({0}, like.options());
}

// How [G, Lq] is cut into tasks: `groups` whole groups at a time when a group's scores fit the
// budget, else `rows` query rows of one group. Whole-group tasks are capped so that every
// thread gets one.
struct Plan {
  int64_t g = 0, lq = 0;
  int64_t groups = 1, rows = 1;
  int64_t group_tasks() const { return (g + groups - 1) / groups; }
  int64_t row_tasks() const { return (lq + rows - 1) / rows; }
};

Plan make_plan(int64_t g, int64_t lq, int64_t lk, int64_t budget) {
  Plan p{g, lq};
  budget = std::max<int64_t>(budget, 1);
  if (lq * lk <= budget) {
    const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
    p.groups = std::clamp<int64_t>(budget / (lq * lk), 1, std::max<int64_t>(1, (g + threads - 1) / threads));
    p.rows = lq;
  } else {
    p.rows = std::max<int64_t>(1, budget / lk);
  }
  return p;
}

// fn(task) for every task in [0, n): spread over LibTorch's threads when there is one task per
// thread or more (each op inside then runs on its own thread, on cache-sized blocks), else in
// turn with every op threaded. Worker threads do not inherit grad mode or autocast, so every
// tensor used inside is detached and already in its compute dtype.
template <class Fn>
void for_each_task(int64_t n, const Fn& fn) {
  const int64_t threads = at::get_num_threads();
  if (threads > 1 && n >= threads && !at::in_parallel_region()) {
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) fn(i);
    });
  } else {
    for (int64_t i = 0; i < n; ++i) fn(i);
  }
}

// The block of rows [r0, r0 + rn) of groups [g0, g0 + gn) of a [G, L, *] tensor.
torch::Tensor block(const torch::Tensor& t, int64_t g0, int64_t gn, int64_t r0, int64_t rn) {
  return t.narrow(0, g0, gn).narrow(1, r0, rn);
}

// Scores of one block, bias added: (q / sqrt(Dh)) k^T + bias.
torch::Tensor block_scores(const torch::Tensor& qs, const torch::Tensor& kt, const torch::Tensor& bias, int64_t g0,
                           int64_t gn, int64_t r0, int64_t rn) {
  auto s = torch::bmm(block(qs, g0, gn, r0, rn), kt.narrow(0, g0, gn));  // [gn, rn, Lk]
  if (bias.defined()) s.add_(block(bias, g0, gn, r0, rn));
  return s;
}

// The softmax of a block of scores [gn, rn, Lk] through the AVX-512 kernel (core/softmax_rows.h)
// when it can run: float32, contiguous, on the CPU. In place: s <- exp(s - rowmax), divided by
// the row sums when `normalize`; returns the row sums [gn, rn, 1]. Undefined (s untouched)
// otherwise, and the caller takes LibTorch's softmax.
torch::Tensor exp_rows_(torch::Tensor& s, bool normalize) {
  if (!kernels::softmax_rows_available() || !s.is_cpu() || s.scalar_type() != torch::kFloat32 || !s.is_contiguous()) {
    return {};
  }
  const int64_t len = s.size(-1), rows = s.numel() / std::max<int64_t>(len, 1);
  auto sums = torch::empty({s.size(0), s.size(1), 1}, s.options());
  kernels::softmax_rows(s.data_ptr<float>(), rows, len, len, sums.data_ptr<float>(), normalize);
  return sums;
}

// softmax(s) over the last dim: in place through the kernel, else LibTorch's.
torch::Tensor softmax_(torch::Tensor s) {
  if (exp_rows_(s, /*normalize=*/true).defined()) return s;
  return torch::softmax(s, -1);
}

torch::Tensor attention_forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& bias, int64_t budget) {
  const int64_t g = q.size(0), lq = q.size(1), lk = k.size(1);
  const auto plan = make_plan(g, lq, lk, budget);
  const auto qs = q * (1.0 / std::sqrt(static_cast<double>(q.size(2))));
  const auto kt = k.transpose(1, 2);  // [G, Dh, Lk]
  auto out = torch::empty({g, lq, v.size(2)}, v.options());
  for_each_task(plan.group_tasks() * plan.row_tasks(), [&](int64_t task) {
    const int64_t g0 = (task / plan.row_tasks()) * plan.groups, r0 = (task % plan.row_tasks()) * plan.rows;
    const int64_t gn = std::min(plan.groups, g - g0), rn = std::min(plan.rows, lq - r0);
    auto s = block_scores(qs, kt, bias, g0, gn, r0, rn);
    auto slot = block(out, g0, gn, r0, rn);
    if (const auto sums = exp_rows_(s, /*normalize=*/false); sums.defined()) {
      // Unnormalised probabilities times v, then each output row divided by its sum: the
      // division touches Dv values per row instead of Lk.
      torch::bmm_out(slot, s, v.narrow(0, g0, gn));
      slot.div_(sums);
    } else {
      torch::bmm_out(slot, torch::softmax(s, -1), v.narrow(0, g0, gn));
    }
  });
  return out;
}

// FlashAttention's backward (Dao et al. 2022, Alg. 4) per block, scores recomputed:
//   P = softmax(S), dV += P^T dO, dS = P * (dO V^T - rowsum(dO * O)), dQ = dS K / sqrt(Dh),
//   dK += dS^T Q / sqrt(Dh), dBias = dS.
// Tasks own whole groups, so the sums into dK and dV never race.
tensor_list attention_backward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& bias, bool bias_grad, const torch::Tensor& out,
                               const torch::Tensor& grad_out, int64_t budget) {
  const int64_t g = q.size(0), lq = q.size(1), lk = k.size(1);
  const auto plan = make_plan(g, lq, lk, budget);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  const auto qs = q * scale;
  const auto kt = k.transpose(1, 2), vt = v.transpose(1, 2);
  const auto d_out = grad_out.contiguous();
  const auto delta = (d_out * out).sum(-1, /*keepdim=*/true);  // [G, Lq, 1]
  auto dq = torch::empty_like(q, torch::MemoryFormat::Contiguous);
  auto dk = torch::zeros_like(k, torch::MemoryFormat::Contiguous);
  auto dv = torch::zeros_like(v, torch::MemoryFormat::Contiguous);
  torch::Tensor dbias;
  if (bias_grad) dbias = torch::empty({g, lq, lk}, q.options());
  for_each_task(plan.group_tasks(), [&](int64_t task) {
    const int64_t g0 = task * plan.groups, gn = std::min(plan.groups, g - g0);
    auto dk_g = dk.narrow(0, g0, gn), dv_g = dv.narrow(0, g0, gn);
    const auto k_g = k.narrow(0, g0, gn);
    for (int64_t r0 = 0; r0 < lq; r0 += plan.rows) {
      const int64_t rn = std::min(plan.rows, lq - r0);
      const auto p = softmax_(block_scores(qs, kt, bias, g0, gn, r0, rn));  // [gn, rn, Lk]
      const auto d_out_b = block(d_out, g0, gn, r0, rn);
      dv_g.baddbmm_(p.transpose(1, 2), d_out_b);
      auto ds = torch::bmm(d_out_b, vt.narrow(0, g0, gn));  // dP
      ds.sub_(block(delta, g0, gn, r0, rn)).mul_(p);
      if (bias_grad) block(dbias, g0, gn, r0, rn).copy_(ds);
      auto dq_b = block(dq, g0, gn, r0, rn);
      torch::bmm_out(dq_b, ds, k_g);
      dk_g.baddbmm_(ds.transpose(1, 2), block(qs, g0, gn, r0, rn));
    }
  });
  dq.mul_(scale);
  return {dq, dk, dv, dbias};
}

class ChunkedAttention : public torch::autograd::Function<ChunkedAttention> {
 public:
  // Autograd inputs must be defined: no bias comes in as an empty tensor.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& bias_or_empty, int64_t budget) {
    const bool has_bias = bias_or_empty.numel() > 0;
    auto out = attention_forward(q.detach(), k.detach(), v.detach(),
                                 has_bias ? bias_or_empty.detach() : torch::Tensor(), budget);
    ctx->save_for_backward({q, k, v, bias_or_empty, out});
    ctx->saved_data["budget"] = budget;
    ctx->saved_data["bias_grad"] = has_bias && bias_or_empty.requires_grad();
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto bias = saved[3].numel() > 0 ? saved[3].detach() : torch::Tensor();
    auto d = attention_backward(saved[0].detach(), saved[1].detach(), saved[2].detach(), bias,
                                ctx->saved_data["bias_grad"].toBool(), saved[4].detach(), grads[0],
                                ctx->saved_data["budget"].toInt());
    return {d[0], d[1], d[2], d[3], torch::Tensor()};
  }
};

// ---- Short sequences (temporal attention: Lq, Lk = frames) -------------------------------------
//
// With a few frames per sequence and one sequence per (pixel, head), bmm runs thousands of 8x8
// products, and LibTorch 1.13 without MKL loops over them one BLAS call at a time: a
// microsecond of overhead for a few hundred multiply-adds. Here each thread takes whole
// groups and does everything in plain loops, every inner loop an axpy over a contiguous row
// (so the compiler vectorises it), and keeps the probabilities (Lq x Lk per group, smaller
// than q) for the backward. float32 or float64 (the guidance tests' finite differences);
// bf16 and f16 are computed in float32.

constexpr int64_t kShortMax = 32;  // Lq and Lk up to this go to the short kernel
constexpr int64_t kShortGrain = 16;  // groups per parallel task, at least

template <class T>
void axpy(T a, const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// out [G, Lq, Dv] and p [G, Lq, Lk] from contiguous q [G, Lq, Dh], k, v, bias (or null).
template <class T>
void short_forward(const T* q, const T* k, const T* v, const T* bias, T* out, T* p, int64_t g, int64_t lq,
                   int64_t lk, int64_t dh, int64_t dv) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(dh)));
  at::parallel_for(0, g, kShortGrain, [&](int64_t begin, int64_t end) {
    std::vector<T> kt(static_cast<size_t>(dh * lk));  // k^T of one group: [Dh, Lk]
    for (int64_t n = begin; n < end; ++n) {
      const T* qn = q + n * lq * dh;
      const T* kn = k + n * lk * dh;
      const T* vn = v + n * lk * dv;
      for (int64_t j = 0; j < lk; ++j)
        for (int64_t d = 0; d < dh; ++d) kt[static_cast<size_t>(d * lk + j)] = kn[j * dh + d];
      for (int64_t i = 0; i < lq; ++i) {
        T* row = p + (n * lq + i) * lk;
        if (bias != nullptr) {
          std::copy_n(bias + (n * lq + i) * lk, lk, row);
        } else {
          std::fill_n(row, lk, T(0));
        }
        for (int64_t d = 0; d < dh; ++d) axpy(qn[i * dh + d] * scale, kt.data() + d * lk, row, lk);
        const T m = *std::max_element(row, row + lk);
        T sum = 0;
        for (int64_t j = 0; j < lk; ++j) sum += row[j] = std::exp(row[j] - m);
        const T inv = T(1) / sum;
        T* o = out + (n * lq + i) * dv;
        std::fill_n(o, dv, T(0));
        for (int64_t j = 0; j < lk; ++j) {
          row[j] *= inv;
          axpy(row[j], vn + j * dv, o, dv);
        }
      }
    }
  });
}

// Gradients from the saved probabilities: dP = dO V^T, dS = P * (dP - rowsum(P * dP)),
// dQ = dS K / sqrt(Dh), dK = dS^T Q / sqrt(Dh), dV = P^T dO, dBias = dS (when wanted).
template <class T>
void short_backward(const T* q, const T* k, const T* v, const T* p, const T* d_out, T* dq, T* dk, T* dv, T* dbias,
                    int64_t g, int64_t lq, int64_t lk, int64_t dh, int64_t dvw) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(dh)));
  at::parallel_for(0, g, kShortGrain, [&](int64_t begin, int64_t end) {
    std::vector<T> vt(static_cast<size_t>(dvw * lk)), ds(static_cast<size_t>(lk));
    for (int64_t n = begin; n < end; ++n) {
      const T* qn = q + n * lq * dh;
      const T* kn = k + n * lk * dh;
      const T* vn = v + n * lk * dvw;
      T* dkn = dk + n * lk * dh;
      T* dvn = dv + n * lk * dvw;
      std::fill_n(dkn, lk * dh, T(0));
      std::fill_n(dvn, lk * dvw, T(0));
      for (int64_t j = 0; j < lk; ++j)
        for (int64_t d = 0; d < dvw; ++d) vt[static_cast<size_t>(d * lk + j)] = vn[j * dvw + d];
      for (int64_t i = 0; i < lq; ++i) {
        const T* prow = p + (n * lq + i) * lk;
        const T* go = d_out + (n * lq + i) * dvw;
        std::fill(ds.begin(), ds.end(), T(0));
        for (int64_t d = 0; d < dvw; ++d) axpy(go[d], vt.data() + d * lk, ds.data(), lk);  // dP row
        T delta = 0;
        for (int64_t j = 0; j < lk; ++j) delta += prow[j] * ds[static_cast<size_t>(j)];
        T* dqi = dq + (n * lq + i) * dh;
        std::fill_n(dqi, dh, T(0));
        for (int64_t j = 0; j < lk; ++j) {
          const T s = prow[j] * (ds[static_cast<size_t>(j)] - delta);
          if (dbias != nullptr) dbias[(n * lq + i) * lk + j] = s;
          axpy(prow[j], go, dvn + j * dvw, dvw);
          axpy(s * scale, kn + j * dh, dqi, dh);
          axpy(s * scale, qn + i * dh, dkn + j * dh, dh);
        }
      }
    }
  });
}

// The kernel's type for t: float64 stays, everything else computes in float32.
torch::Dtype short_kernel_dtype(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor as_kernel_input(const torch::Tensor& t, torch::Dtype dtype) { return t.to(dtype).contiguous(); }

template <class T>
const T* ptr_or_null(const torch::Tensor& t) {
  return t.defined() && t.numel() > 0 ? t.data_ptr<T>() : nullptr;
}

// Output and probabilities; q, k, v (and a non-empty bias) contiguous, of one kernel type.
std::pair<torch::Tensor, torch::Tensor> short_forward(const torch::Tensor& q, const torch::Tensor& k,
                                                      const torch::Tensor& v, const torch::Tensor& bias_or_empty) {
  const int64_t g = q.size(0), lq = q.size(1), lk = k.size(1), dh = q.size(2), dv = v.size(2);
  auto out = torch::empty({g, lq, dv}, q.options().requires_grad(false));
  auto p = torch::empty({g, lq, lk}, q.options().requires_grad(false));
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "short_attention_forward", [&] {
    short_forward(q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                  ptr_or_null<scalar_t>(bias_or_empty), out.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(), g, lq, lk,
                  dh, dv);
  });
  return {out, p};
}

class ShortAttention : public torch::autograd::Function<ShortAttention> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& bias_or_empty) {
    const bool has_bias = bias_or_empty.numel() > 0;
    auto [out, p] = short_forward(q, k, v, bias_or_empty);
    ctx->save_for_backward({q, k, v, p});
    ctx->saved_data["bias_grad"] = has_bias && bias_or_empty.requires_grad();
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &p = saved[3];
    const int64_t g = q.size(0), lq = q.size(1), lk = k.size(1), dh = q.size(2), dvw = v.size(2);
    const auto d_out = as_kernel_input(grads[0], q.scalar_type());
    auto dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    torch::Tensor dbias;
    if (ctx->saved_data["bias_grad"].toBool()) dbias = torch::empty_like(p);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "short_attention_backward", [&] {
      short_backward(q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(),
                     d_out.data_ptr<scalar_t>(), dq.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(),
                     dv.data_ptr<scalar_t>(), dbias.defined() ? dbias.data_ptr<scalar_t>() : nullptr, g, lq, lk, dh,
                     dvw);
    });
    return {dq, dk, dv, dbias};
  }
};

torch::Tensor short_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& bias) {
  const auto dtype = q.scalar_type(), kernel = short_kernel_dtype(q);
  const auto qf = as_kernel_input(q, kernel), kf = as_kernel_input(k, kernel), vf = as_kernel_input(v, kernel);
  const auto bf = bias_or_empty(bias.defined() ? as_kernel_input(bias, kernel) : bias, qf);
  const auto out = needs_autograd({qf, kf, vf, bf}) ? ShortAttention::apply(qf, kf, vf, bf)
                                                    : short_forward(qf, kf, vf, bf).first;
  return out.to(dtype);
}

// The type autocast would run a matrix product in (torch.autocast casts bmm's inputs), or
// q's own type when autocast is off.
torch::Dtype compute_dtype(const torch::Tensor& q) {
#if VDM_TORCH_AT_LEAST(2, 4)
  const auto device = q.device().type();
  if (at::autocast::is_autocast_enabled(device)) return at::autocast::get_autocast_dtype(device);
#else
  if (q.is_cpu() && at::autocast::is_cpu_enabled()) return at::autocast::get_autocast_cpu_dtype();
  if (q.is_cuda() && at::autocast::is_enabled()) return at::autocast::get_autocast_gpu_dtype();
#endif
  return q.scalar_type();
}

}  // namespace

torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& bias, int64_t score_budget) {
  VDM_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && q.size(0) == k.size(0) && k.size(0) == v.size(0) &&
                q.size(2) == k.size(2) && k.size(1) == v.size(1),
            "chunked_attention: expected q [G, Lq, Dh], k [G, Lk, Dh], v [G, Lk, Dv], got [{}], [{}], [{}]",
            fmt::join(q.sizes(), ", "), fmt::join(k.sizes(), ", "), fmt::join(v.sizes(), ", "));
  VDM_CHECK(!bias.defined() || bias.sizes() == torch::IntArrayRef({q.size(0), q.size(1), k.size(1)}),
            "chunked_attention: bias must be [G, Lq, Lk] = [{}, {}, {}], got [{}]", q.size(0), q.size(1), k.size(1),
            fmt::join(bias.sizes(), ", "));
  // Autocast's choice made here once, then kept off inside, where worker threads would not see it.
  const auto dtype = compute_dtype(q);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      c10::DispatchKeySet({c10::DispatchKey::AutocastCPU, c10::DispatchKey::AutocastCUDA}));
  auto cast = [&](const torch::Tensor& t) { return t.defined() ? t.to(dtype) : t; };
  const auto qc = cast(q), kc = cast(k), vc = cast(v), bc = cast(bias);
  if (qc.is_cpu() && qc.size(1) <= kShortMax && kc.size(1) <= kShortMax) return short_attention(qc, kc, vc, bc);
  if (!needs_autograd({qc, kc, vc, bc})) {
    torch::NoGradGuard no_grad;
    return attention_forward(qc, kc, vc, bc, score_budget);
  }
  return ChunkedAttention::apply(qc, kc, vc, bias_or_empty(bc, qc), score_budget);
}

}  // namespace vdm
