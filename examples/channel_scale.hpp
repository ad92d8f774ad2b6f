// A layer defined outside the library, as docs/layers.md ("Adding a layer") describes: a
// learnable scale and shift per channel,
//   y[h][w][c] = gamma[c] * x[h][w][c] + beta[c]
// (the affine part of BatchNorm without the normalisation; Ioffe & Szegedy 2015, eq. in Alg. 1).
// Parameters: gamma (C floats, initialised to 1) then beta (C, initialised to 0). In a
// safetensors file they are `weight` [C] and `bias` [C], as for a PyTorch module
//   class ChannelScale(nn.Module):
//       def __init__(self, c): self.weight = nn.Parameter(torch.ones(c)); self.bias = ...zeros(c)
//       def forward(self, x): return x * self.weight[:, None, None] + self.bias[:, None, None]
// Gradients: dL/dgamma[c] = sum over h, w of dL/dy * x, dL/dbeta[c] = sum of dL/dy,
// dL/dx = gamma[c] * dL/dy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <ctnn/layers/layer.hpp>
#include <ctnn/shape.hpp>
#include <string>
#include <vector>

namespace examples {

struct ChannelScale {
  template <class In>
  struct bind {
    static_assert(ctnn::is_image_v<In>, "ChannelScale needs an Image<H,W,C> input");
  };
  template <std::size_t H, std::size_t W, std::size_t C>
  struct bind<ctnn::Image<H, W, C>> {
    using input_shape = ctnn::Image<H, W, C>;
    using output_shape = input_shape;
    static constexpr std::size_t parameter_count = 2 * C, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0;
    static constexpr std::size_t flops = 2 * H * W * C;
    static constexpr bool keeps_order = true;

    static std::string name() { return "ChannelScale"; }
    static void init(float* params, float*, ctnn::Rng&) {
      std::fill_n(params, C, 1.0f);
      std::fill_n(params + C, C, 0.0f);
    }
    static void forward(const ctnn::Pass& p) {
      const float* gamma = p.params;
      const float* beta = p.params + C;
      for (std::size_t i = 0; i < p.batch * H * W; ++i)
        for (std::size_t c = 0; c < C; ++c) p.out[i * C + c] = gamma[c] * p.in[i * C + c] + beta[c];
    }
    static void backward(const ctnn::Pass& p) {
      const float* gamma = p.params;
      for (std::size_t i = 0; i < p.batch * H * W; ++i)
        for (std::size_t c = 0; c < C; ++c) {
          const float g = p.dout[i * C + c];
          p.grads[c] += g * p.in[i * C + c];  // parameter gradients are added
          p.grads[C + c] += g;
          if (p.din) p.din[i * C + c] = gamma[c] * g;  // the input gradient is written
        }
    }
    /// Its tensors in safetensors files, under its own names.
    static std::vector<ctnn::TensorDesc> tensors(const ctnn::TensorContext&) {
      return {{"weight", {C}, [](std::size_t e) { return e; }},
              {"bias", {C}, [](std::size_t e) { return C + e; }}};
    }
  };
};

}  // namespace examples
