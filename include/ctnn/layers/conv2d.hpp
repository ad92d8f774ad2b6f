// ctnn/layers/conv2d.hpp — Conv2D: 2-D convolution over a channels-last image.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../attributes.hpp"
#include "../kernels/conv2d.hpp"
#include "layer.hpp"
#include "padding.hpp"

namespace ctnn {

namespace detail {
// The checks of a spec's own parameters live in classes of their own: a failed assertion in the
// spec's body would leave it without members (Clang), and bind<> errors would follow.
template <bool ValidSizes>
struct check_conv2d {
  static_assert(ValidSizes, "Conv2D sizes must be positive");
};
}  // namespace detail

/// Conv2D<Filters, Kernel, Stride = 1, Padding = Valid, Initializer = init::GlorotUniform>
///
/// Input Image<H, W, C>, output Image<OH, OW, Filters> (Padding: layers/padding.hpp):
///   valid: OH = (H - Kernel) / Stride + 1          same: OH = ceil(H / Stride)   (same for W)
///   Pad<...>: OH = (H + pad_top + pad_bottom - Kernel) / Stride + 1 (PyTorch's nn.Conv2d)
///   out[oh, ow, f] = b[f] + sum_{kh, kw, c} x[oh*S + kh - pad_top, ow*S + kw - pad_left, c]
///                                           * w[kh, kw, c, f]
/// (cross-correlation, as in Keras and PyTorch; x is zero outside the image).
/// Parameters: w (Kernel x Kernel x C x Filters, layout [kh][kw][c][f]) then b (Filters):
/// Kernel*Kernel*C*Filters + Filters floats. PyTorch's Conv2d weight [f][c][kh][kw] is the same
/// tensor permuted. Weights are initialised by `Initializer` (fan_in = K*K*C,
/// fan_out = K*K*Filters), biases to zero.
template <std::size_t Filters, std::size_t Kernel, std::size_t Stride = 1,
          Padding Pad = Padding::valid, class Initializer = init::GlorotUniform>
struct Conv2D {
  static constexpr bool valid_sizes = Filters > 0 && Kernel > 0 && Stride > 0;
  using checked_ [[maybe_unused]] = decltype(sizeof(detail::check_conv2d<valid_sizes>));

  // Rejected bindings (layer.hpp); with invalid sizes the assertion above has spoken.
  template <class In>
  struct bind : detail::Rejected<bind<In>, !valid_sizes> {
    template <class = void>
    struct report {
      static_assert(detail::always_false<In>,
                    "Conv2D needs an Image<H,W,C> input (the instantiation notes show the shape "
                    "it got)");
    };
  };
  template <std::size_t H, std::size_t W, std::size_t C>
  struct bind<Image<H, W, C>> : detail::Rejected<bind<Image<H, W, C>>, !valid_sizes> {
    template <class = void>
    struct report {
      static_assert(detail::always_false<Image<H, W, C>>,
                    "Conv2D: the kernel is larger than its input image");
    };
  };

  template <std::size_t H, std::size_t W, std::size_t C>
  requires(valid_sizes && (Pad == Padding::same ||
                           (Kernel <= H + Pad.top + Pad.bottom &&
                            Kernel <= W + Pad.left + Pad.right))) struct bind<Image<H, W, C>> {
    static constexpr std::size_t F = Filters, K = Kernel, S = Stride;
    // The convolution runs over the padded input (HP x WP), or the input itself (valid).
    static constexpr Pads pads = pads_of(Pad, H, W, K, S);
    static constexpr std::size_t top = pads.top, left = pads.left;
    static constexpr std::size_t HP = H + top + pads.bottom, WP = W + left + pads.right;
    static constexpr std::size_t OH = (HP - K) / S + 1, OW = (WP - K) / S + 1;
    static constexpr bool padded = HP != H || WP != W;

    using input_shape = Image<H, W, C>;
    using output_shape = Image<OH, OW, F>;
    static constexpr LayerKind kind = LayerKind::conv2d;
    static constexpr std::size_t weight_count = K * K * C * F;
    static constexpr std::size_t parameter_count = weight_count + F;
    static constexpr std::size_t state_count = 0;
    static constexpr std::size_t scratch_per_sample = padded ? HP * WP * C : 0;
    static constexpr std::size_t scratch_fixed =
        kernels::conv2d_backward_input_scratch<HP, WP, C, F, K, S> + (padded ? HP * WP * C : 0);
    // Inference needs only the padded input, which comes first.
    static constexpr std::size_t inference_scratch_per_sample = scratch_per_sample;
    static constexpr std::size_t inference_scratch_fixed = 0;
    static constexpr std::size_t flops = 2 * OH * OW * F * K * K * C;

    /// PyTorch's nn.Conv2d: weight [F, C, K, K] (ctnn's [kh][kw][c][f] permuted), bias [F].
    CTNN_COLD static std::vector<TensorDesc> tensors(const TensorContext&) {
      return {{"weight",
               {F, C, K, K},
               [](std::size_t e) {
                 const std::size_t kw = e % K, kh = e / K % K, c = e / (K * K) % C,
                                   f = e / (K * K * C);
                 return ((kh * K + kw) * C + c) * F + f;
               }},
              {"bias", {F}, [](std::size_t e) { return weight_count + e; }}};
    }
    CTNN_COLD static std::string name() {
      return layer_name("Conv2D", std::to_string(F), std::to_string(K), std::to_string(S),
                        padding_name(Pad));
    }

    static void init(float* params, float*, Rng& rng) {
      Initializer::fill(params, weight_count, K * K * C, K * K * F, rng);
      std::fill(params + weight_count, params + parameter_count, 0.0f);
    }

    /// The convolution's input: p.in, or when padded its zero-padded copy in the scratch (kept
    /// there for backward).
    static const float* input(const Pass& p) {
      if constexpr (padded) {
        kernels::pad2d<H, W, C, top, HP - H - top, left, WP - W - left>(p.in, p.scratch, p.batch,
                                                                        0.0f);
        return p.scratch;
      } else {
        return p.in;
      }
    }

    static void forward(const Pass& p) {
      const float* x = input(p);
      kernels::conv2d_forward<HP, WP, C, F, K, S, false>(x, p.params, p.params + weight_count,
                                                         p.out, p.batch);
    }

    /// Forward with the fused operations Ops (layers/contract.hpp, FusesOps): a BatchNorm folded
    /// into the epilogue (affine: per filter), a residual addend, ReLU. The ReLU alone also in
    /// training (FusesInTraining): backward needs only the input (or its padded copy, which
    /// this forward keeps in the scratch as forward does).
    static constexpr unsigned fused_ops = fused::affine | fused::add | fused::relu;
    static constexpr unsigned training_fused_ops = fused::relu;
    template <unsigned Ops>
    static void forward_fused(const Pass& p, const FusedOutput& f) {
      constexpr kernels::Epilogue epilogue{.affine = (Ops & fused::affine) != 0,
                                           .add = (Ops & fused::add) != 0,
                                           .relu = (Ops & fused::relu) != 0};
      const float* x = input(p);
      kernels::conv2d_forward_fused<HP, WP, C, F, K, S, epilogue>(
          x, p.params,
          {.bias = p.params + weight_count, .scale = f.scale, .shift = f.shift, .addend = f.addend},
          p.out, p.batch);
    }

    /// Inference of this layer, a ReLU and MaxPool2D<Pool> (stride Pool) in one pass
    /// (kernels::conv2d_forward_relu_maxpool); p.out receives the pooled map and `rows` holds
    /// Pool rows of this layer's output.
    template <std::size_t Pool>
    static void forward_relu_maxpool(const Pass& p, float* rows) {
      const float* x = input(p);
      kernels::conv2d_forward_relu_maxpool<HP, WP, C, F, K, S, Pool>(
          x, p.params, p.params + weight_count, p.out, rows, p.batch);
    }

    static void backward(const Pass& p) {
      const float* x = padded ? p.scratch : p.in;
      kernels::conv2d_backward_weights<HP, WP, C, F, K, S>(x, p.dout, p.grads,
                                                           p.grads + weight_count, p.batch);
      if (!p.din) return;
      float* work = p.scratch + p.batch * scratch_per_sample;
      if constexpr (padded) {
        float* dxp = work + kernels::conv2d_backward_input_scratch<HP, WP, C, F, K, S>;
        for (std::size_t b = 0; b < p.batch; ++b) {
          kernels::conv2d_backward_input<HP, WP, C, F, K, S>(p.dout + b * OH * OW * F, p.params,
                                                             dxp, work, 1);
          kernels::unpad2d<H, W, C, top, left, WP>(dxp, p.din + b * H * W * C);
        }
      } else {
        kernels::conv2d_backward_input<H, W, C, F, K, S>(p.dout, p.params, p.din, work, p.batch);
      }
    }
  };
};

/// The short spelling: Conv<32, 3> is Conv2D<32, 3>.
template <std::size_t Filters, std::size_t Kernel, std::size_t Stride = 1,
          Padding Pad = Padding::valid, class Initializer = init::GlorotUniform>
using Conv = Conv2D<Filters, Kernel, Stride, Pad, Initializer>;

}  // namespace ctnn
