// ctnn/layers/pooling.hpp — MaxPool2D, AvgPool2D and GlobalAvgPool2D over channels-last images.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>

#include "../attributes.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/pool2d.hpp"
#include "layer.hpp"
#include "padding.hpp"

namespace ctnn {

namespace detail {
// Checked in a class of its own, as Conv2D's sizes (conv2d.hpp), from MaxPool2D and AvgPool2D
// themselves (Clang leaves a class whose base failed to instantiate without members).
template <bool Positive, bool NotSame, bool HalfWindow>
struct check_pool2d {
  static_assert(Positive, "pooling sizes must be positive");
  static_assert(NotSame,
                "MaxPool2D/AvgPool2D take ctnn::Valid or explicit pads (ctnn::Pad<P>, "
                "Pad<PH, PW>, Pad<Top, Bottom, Left, Right>), not ctnn::Same");
  static_assert(HalfWindow,
                "MaxPool2D/AvgPool2D: each pad must be at most half the window (pad <= Pool / 2, "
                "as PyTorch requires)");
};

template <bool Max, std::size_t Pool, std::size_t Stride, Padding Pad>
struct Pool2D {
  static constexpr bool positive = Pool > 0 && Stride > 0;
  static constexpr bool not_same = Pad != Padding::same;
  static constexpr bool half_window = 2 * Pad.top <= Pool && 2 * Pad.bottom <= Pool &&
                                      2 * Pad.left <= Pool && 2 * Pad.right <= Pool;
  static constexpr bool valid_sizes = positive && not_same && half_window;
  using check = check_pool2d<positive, not_same, half_window>;

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
  requires(valid_sizes&& Pool <= H + Pad.top + Pad.bottom &&
           Pool <= W + Pad.left + Pad.right) struct bind<Image<H, W, C>> {
    // The pooling runs over the padded input (HP x WP), or the input itself (valid).
    static constexpr std::size_t top = Pad.top, bottom = Pad.bottom, left = Pad.left;
    static constexpr std::size_t HP = H + top + bottom, WP = W + left + Pad.right;
    static constexpr bool padded = HP != H || WP != W;
    static constexpr std::size_t OH = (HP - Pool) / Stride + 1, OW = (WP - Pool) / Stride + 1;
    using input_shape = Image<H, W, C>;
    using output_shape = Image<OH, OW, C>;
    static constexpr LayerKind kind = Max ? LayerKind::maxpool2d : LayerKind::avgpool2d;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    /// Padded: the padded input (kept for backward), and a padded gradient for one sample.
    static constexpr std::size_t scratch_per_sample = padded ? HP * WP * C : 0;
    /// A max pooling with stride = window and no padding right after Conv2D and ReLU is
    /// computed by the convolution in inference (PoolsAfterConv, Conv2D::forward_relu_maxpool);
    /// this is its buffer of Pool input rows.
    static constexpr bool pools_after_conv = Max && Pool == Stride && !padded;
    static constexpr std::size_t pool_size = Pool;
    static constexpr std::size_t scratch_fixed =
        pools_after_conv ? Pool * W * C : (padded ? HP * WP * C : 0);
    // Inference needs the padded input (or the convolution's rows), not the padded gradient.
    static constexpr std::size_t inference_scratch_per_sample = scratch_per_sample;
    static constexpr std::size_t inference_scratch_fixed = padded ? 0 : scratch_fixed;
    static constexpr std::size_t flops = OH * OW * C * Pool * Pool;

    CTNN_COLD static std::string name() {
      if constexpr (padded)
        return layer_name(Max ? "MaxPool2D" : "AvgPool2D", std::to_string(Pool),
                          std::to_string(Stride), padding_name(Pad));
      else
        return layer_name(Max ? "MaxPool2D" : "AvgPool2D", std::to_string(Pool),
                          std::to_string(Stride));
    }
    static void init(float*, float*, Rng&) {}

    /// The pooling's input: p.in, or when padded its copy in the scratch, the pads -infinity
    /// (maximum) or zero (average).
    static const float* input(const Pass& p) {
      if constexpr (padded) {
        constexpr float fill = Max ? -std::numeric_limits<float>::infinity() : 0.0f;
        kernels::pad2d<H, W, C, top, bottom, left, WP - W - left>(p.in, p.scratch, p.batch, fill);
        return p.scratch;
      } else {
        return p.in;
      }
    }
    static void forward(const Pass& p) {
      const float* x = input(p);
      if constexpr (Max)
        kernels::maxpool2d_forward<HP, WP, C, Pool, Stride>(x, p.out, p.batch);
      else
        kernels::avgpool2d_forward<HP, WP, C, Pool, Stride>(x, p.out, p.batch);
    }
    static void backward(const Pass& p) {
      if (!p.din) return;
      if constexpr (padded) {
        // The gradient of the padded input, one sample at a time, without its pads.
        float* dxp = p.scratch + p.batch * scratch_per_sample;
        for (std::size_t b = 0; b < p.batch; ++b) {
          const std::size_t o = b * OH * OW * C;
          if constexpr (Max)
            kernels::maxpool2d_backward<HP, WP, C, Pool, Stride>(p.scratch + b * HP * WP * C,
                                                                 p.out + o, p.dout + o, dxp, 1);
          else
            kernels::avgpool2d_backward<HP, WP, C, Pool, Stride>(p.dout + o, dxp, 1);
          kernels::unpad2d<H, W, C, top, left, WP>(dxp, p.din + b * H * W * C);
        }
      } else if constexpr (Max) {
        kernels::maxpool2d_backward<H, W, C, Pool, Stride>(p.in, p.out, p.dout, p.din, p.batch);
      } else {
        kernels::avgpool2d_backward<H, W, C, Pool, Stride>(p.dout, p.din, p.batch);
      }
    }
  };
};
}  // namespace detail

/// MaxPool2D<Pool, Stride = Pool, Padding = Valid>: Image<H, W, C> -> Image<OH, OW, C> with
///   OH = (H + pad_top + pad_bottom - Pool) / Stride + 1, OW likewise (no pads with Valid),
/// out = max over each Pool x Pool window of the padded image, per channel, the pads counting as
/// -infinity (PyTorch's nn.MaxPool2d(Pool, Stride, padding), ceil_mode=False). Padding is Valid
/// or ctnn::Pad<...> (layers/padding.hpp), each pad at most Pool / 2 (PyTorch's limit, so that
/// every window holds an image pixel); Same is refused. No parameters. The gradient goes to the
/// first maximum of each window (row-major order).
template <std::size_t Pool, std::size_t Stride = Pool, Padding Pad = Padding::valid>
struct MaxPool2D : detail::Pool2D<true, Pool, Stride, Pad> {
  using checked_ [[maybe_unused]] =
      decltype(sizeof(typename detail::Pool2D<true, Pool, Stride, Pad>::check));
};

/// AvgPool2D<Pool, Stride = Pool, Padding = Valid>: same shapes as MaxPool2D, out = the sum of
/// each window of the padded image divided by Pool * Pool, the pads counting as zeros (PyTorch's
/// nn.AvgPool2d(Pool, Stride, padding), count_include_pad=True, ceil_mode=False).
template <std::size_t Pool, std::size_t Stride = Pool, Padding Pad = Padding::valid>
struct AvgPool2D : detail::Pool2D<false, Pool, Stride, Pad> {
  using checked_ [[maybe_unused]] =
      decltype(sizeof(typename detail::Pool2D<false, Pool, Stride, Pad>::check));
};

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
    CTNN_COLD static std::string name() { return "GlobalAvgPool2D"; }
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
template <std::size_t P, std::size_t Stride = P, Padding Pad = Padding::valid>
using Pool = MaxPool2D<P, Stride, Pad>;

}  // namespace ctnn
