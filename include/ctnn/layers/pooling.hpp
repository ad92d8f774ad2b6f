// ctnn/layers/pooling.hpp — MaxPool2D, AvgPool2D and GlobalAvgPool2D over channels-last images.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "../kernels/elementwise.hpp"
#include "../kernels/pool2d.hpp"
#include "layer.hpp"

namespace ctnn {

namespace detail {
// Checked in a class of its own, as Conv2D's sizes (conv2d.hpp).
template <bool ValidSizes>
struct check_pool2d {
  static_assert(ValidSizes, "pooling sizes must be positive");
};

template <bool Max, std::size_t Pool, std::size_t Stride>
struct Pool2D {
  static constexpr bool valid_sizes = Pool > 0 && Stride > 0;
  using checked_ [[maybe_unused]] = decltype(sizeof(check_pool2d<valid_sizes>));

  // Rejected bindings (layer.hpp); with invalid sizes the assertion above has spoken.
  template <class In>
  struct bind : Rejected<bind<In>, !valid_sizes> {
    template <class = void>
    struct report {
      static_assert(always_false<In>,
                    "MaxPool2D/AvgPool2D need an Image<H,W,C> input (the instantiation notes "
                    "show the shape it got)");
    };
  };
  template <std::size_t H, std::size_t W, std::size_t C>
  struct bind<Image<H, W, C>> : Rejected<bind<Image<H, W, C>>, !valid_sizes> {
    template <class = void>
    struct report {
      static_assert(always_false<Image<H, W, C>>,
                    "MaxPool2D/AvgPool2D: the window is larger than the image");
    };
  };

  template <std::size_t H, std::size_t W, std::size_t C>
  requires(valid_sizes&& Pool <= H && Pool <= W) struct bind<Image<H, W, C>> {
    static constexpr std::size_t OH = (H - Pool) / Stride + 1, OW = (W - Pool) / Stride + 1;
    using input_shape = Image<H, W, C>;
    using output_shape = Image<OH, OW, C>;
    static constexpr LayerKind kind = Max ? LayerKind::maxpool2d : LayerKind::avgpool2d;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0;
    /// A max pooling with stride = window right after Conv2D and ReLU is computed by the
    /// convolution in inference (PoolsAfterConv, Conv2D::forward_relu_maxpool); this is its
    /// buffer of Pool input rows.
    static constexpr bool pools_after_conv = Max && Pool == Stride;
    static constexpr std::size_t pool_size = Pool;
    static constexpr std::size_t scratch_fixed = pools_after_conv ? Pool * W * C : 0;
    static constexpr std::size_t flops = OH * OW * C * Pool * Pool;

    static std::string name() {
      return layer_name(Max ? "MaxPool2D" : "AvgPool2D", std::to_string(Pool),
                        std::to_string(Stride));
    }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) {
      if constexpr (Max)
        kernels::maxpool2d_forward<H, W, C, Pool, Stride>(p.in, p.out, p.batch);
      else
        kernels::avgpool2d_forward<H, W, C, Pool, Stride>(p.in, p.out, p.batch);
    }
    static void backward(const Pass& p) {
      if (!p.din) return;
      if constexpr (Max)
        kernels::maxpool2d_backward<H, W, C, Pool, Stride>(p.in, p.out, p.dout, p.din, p.batch);
      else
        kernels::avgpool2d_backward<H, W, C, Pool, Stride>(p.dout, p.din, p.batch);
    }
  };
};
}  // namespace detail

/// MaxPool2D<Pool, Stride = Pool>: Image<H, W, C> -> Image<(H-Pool)/Stride+1, (W-Pool)/Stride+1,
/// C>, out = max over each Pool x Pool window, per channel. No parameters. The gradient goes to the
/// first maximum of each window (row-major order).
template <std::size_t Pool, std::size_t Stride = Pool>
struct MaxPool2D : detail::Pool2D<true, Pool, Stride> {};

/// AvgPool2D<Pool, Stride = Pool>: same shapes as MaxPool2D, out = mean of each window.
template <std::size_t Pool, std::size_t Stride = Pool>
struct AvgPool2D : detail::Pool2D<false, Pool, Stride> {};

/// GlobalAvgPool2D: Image<H, W, C> -> Vector<C>, y[c] = mean over h, w of x[h][w][c] (Lin et al.
/// 2014, "Network In Network"; PyTorch's nn.AdaptiveAvgPool2d(1) followed by nn.Flatten).
/// dL/dx[h][w][c] = dL/dy[c] / (H W). No parameters.
struct GlobalAvgPool2D {
  template <class In>
  struct bind : detail::Rejected<bind<In>> {
    template <class = void>
    struct report {
      static_assert(detail::always_false<In>,
                    "GlobalAvgPool2D needs an Image<H,W,C> input (the instantiation notes show "
                    "the shape it got)");
    };
  };
  template <std::size_t H, std::size_t W, std::size_t C>
  struct bind<Image<H, W, C>> {
    using input_shape = Image<H, W, C>;
    using output_shape = Vector<C>;
    static constexpr LayerKind kind = LayerKind::global_avgpool2d;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0;
    static constexpr std::size_t flops = H * W * C;
    static std::string name() { return "GlobalAvgPool2D"; }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) {
      constexpr float scale = 1.0f / float(H * W);
      for (std::size_t b = 0; b < p.batch; ++b) {
        const float* x = p.in + b * H * W * C;
        float* y = p.out + b * C;
        std::fill_n(y, C, 0.0f);
        for (std::size_t i = 0; i < H * W; ++i) kernels::add_into(y, x + i * C, C);
        for (std::size_t c = 0; c < C; ++c) y[c] *= scale;
      }
    }
    static void backward(const Pass& p) {
      if (!p.din) return;
      constexpr float scale = 1.0f / float(H * W);
      for (std::size_t b = 0; b < p.batch; ++b) {
        const float* g = p.dout + b * C;
        float* d = p.din + b * H * W * C;
        for (std::size_t c = 0; c < C; ++c) d[c] = g[c] * scale;
        for (std::size_t i = 1; i < H * W; ++i) std::copy_n(d, C, d + i * C);
      }
    }
  };
};

/// The short spelling: Pool<2> is MaxPool2D<2>.
template <std::size_t P, std::size_t Stride = P>
using Pool = MaxPool2D<P, Stride>;

}  // namespace ctnn
