#include "vdm/nn/onednn.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace vdm::nn {

namespace {
// -1: not decided yet (VDM_ONEDNN is read on first use); 0 off; 1 on.
std::atomic<int> g_enabled{-1};
}  // namespace

bool onednn_enabled() {
  int state = g_enabled.load();
  if (state < 0) {
    const char* env = std::getenv("VDM_ONEDNN");
    int expected = -1;
    g_enabled.compare_exchange_strong(expected, (env != nullptr && std::strcmp(env, "0") == 0) ? 0 : 1);
    state = g_enabled.load();
  }
  return state == 1;
}

void set_onednn_enabled(bool enabled) { g_enabled.store(enabled ? 1 : 0); }

bool onednn_built() { return VDM_WITH_DNNL != 0; }

}  // namespace vdm::nn
