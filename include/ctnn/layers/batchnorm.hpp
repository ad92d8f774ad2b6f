// ctnn/layers/batchnorm.hpp — BatchNorm (Ioffe & Szegedy 2015).
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "../attributes.hpp"
#include "../kernels/batchnorm.hpp"
#include "../shape.hpp"
#include "layer.hpp"

namespace ctnn {

namespace detail {
// Checked in a class of its own, as Conv2D's sizes (conv2d.hpp).
template <bool Numbers>
struct check_batchnorm {
  static_assert(Numbers, "BatchNorm's momentum and epsilon are numbers");
};

/// BatchNorm's constants given as template arguments (BatchNorm::with).
template <auto MomentumValue, auto EpsilonValue>
struct BatchNormConstants {
  static constexpr bool numbers =
      std::is_arithmetic_v<decltype(MomentumValue)> && std::is_arithmetic_v<decltype(EpsilonValue)>;
  static constexpr double momentum = [] {
    if constexpr (numbers)
      return static_cast<double>(MomentumValue);
    else
      return 0.1;
  }();
  static constexpr double epsilon = [] {
    if constexpr (numbers)
      return static_cast<double>(EpsilonValue);
    else
      return 1e-5;
  }();
  using checked_ [[maybe_unused]] = decltype(sizeof(check_batchnorm<numbers>));
};
/// The defaults, PyTorch's: no floating-point template arguments, so that plain BatchNorm also
/// compiles where those are not supported yet (Clang before 18).
struct BatchNormDefaults {
  static constexpr double momentum = 0.1, epsilon = 1e-5;
};

/// The BatchNorm layer with Constants::momentum and Constants::epsilon; see ctnn::BatchNorm.
template <class Constants>
struct BatchNormSpec {
  static constexpr double Momentum = Constants::momentum;
  static constexpr double Epsilon = Constants::epsilon;

  template <class In>
  struct bind {
    static_assert(Shape<In>, "BatchNorm needs a shape input");
    static constexpr std::size_t C = channels_of<In>();
    static constexpr std::size_t positions = In::size / C;  // values per channel per sample
    using input_shape = In;
    using output_shape = In;
    static constexpr LayerKind kind = LayerKind::batchnorm;
    static constexpr bool keeps_order = true;
    static constexpr std::size_t parameter_count = 2 * C, state_count = 2 * C;
    static constexpr std::size_t scratch_per_sample = 0;
    static constexpr std::size_t scratch_fixed = 2 * C;  // batch mean, 1/sqrt(var + eps)
    static constexpr std::size_t flops = 2 * In::size;

    /// PyTorch's nn.BatchNorm2d (Image input) or nn.BatchNorm1d (Vector input): weight (gamma)
    /// [C], bias (beta) [C], running_mean [C], running_var [C] (state), num_batches_tracked
    /// (I64, not kept). On a Vector that flattens an image, the features in PyTorch's (c, h, w)
    /// order.
    CTNN_COLD static std::vector<TensorDesc> tensors(const TensorContext& ctx) {
      ElementOrder im;
      if constexpr (!is_image_v<In>) im = ctx.flat_input;
      auto first = [im](std::size_t e) { return im.from_chw(e); };
      auto second = [im](std::size_t e) { return C + im.from_chw(e); };
      return {{"weight", {C}, first},
              {"bias", {C}, second},
              {"running_mean", {C}, first, true},
              {"running_var", {C}, second, true},
              {"num_batches_tracked", {}, nullptr, false, true}};
    }
    CTNN_COLD static std::string name() {
      return layer_name("BatchNorm", format_float(static_cast<float>(Momentum)),
                        format_float(static_cast<float>(Epsilon)));
    }

    static void init(float* params, float* state, Rng&) {
      for (std::size_t c = 0; c < C; ++c) {
        params[c] = 1.0f;
        params[C + c] = 0.0f;
        state[c] = 0.0f;
        state[C + c] = 1.0f;
      }
    }

    static void forward(const Pass& p) {
      const float* gamma = p.params;
      const float* beta = p.params + C;
      float* mean = p.scratch;
      float* inv_std = p.scratch + C;
      const std::size_t rows = p.batch * positions;
      if (p.training) {
        std::vector<double> m(C), var(C);
        kernels::batchnorm_statistics<C>(p.in, rows, m.data(), var.data());
        for (std::size_t c = 0; c < C; ++c) {
          mean[c] = static_cast<float>(m[c]);
          inv_std[c] = static_cast<float>(1.0 / std::sqrt(var[c] + Epsilon));
          if (float* s = p.state_update) {
            const double unbiased = rows > 1 ? var[c] * rows / (rows - 1) : var[c];
            s[c] += Momentum * (mean[c] - s[c]);
            s[C + c] += Momentum * (static_cast<float>(unbiased) - s[C + c]);
          }
        }
      } else {
        for (std::size_t c = 0; c < C; ++c) {
          mean[c] = p.state[c];
          inv_std[c] = 1.0f / std::sqrt(p.state[C + c] + Epsilon);
        }
      }
      std::vector<float> scale(C);
      for (std::size_t c = 0; c < C; ++c) scale[c] = gamma[c] * inv_std[c];
      kernels::batchnorm_apply<C>(p.in, rows, mean, scale.data(), beta, p.out);
    }
    /// Inference mode is y = x * scale + shift per channel, scale = gamma / sqrt(var + eps),
    /// shift = beta - mean * scale (ChannelAffine): a layer before it with fused::affine applies
    /// it in its epilogue. Writes scale and shift (C floats each), e.g. into this layer's scratch.
    static constexpr bool is_channel_affine = true;
    static void inference_affine(const Pass& p, float* scale, float* shift) {
      for (std::size_t c = 0; c < C; ++c) {
        const float inv_std = 1.0f / std::sqrt(p.state[C + c] + Epsilon);
        scale[c] = p.params[c] * inv_std;
        shift[c] = p.params[C + c] - p.state[c] * scale[c];
      }
    }

    // With xh = (x - mean) * inv_std and m rows per channel:
    //   dgamma = sum dy * xh,  dbeta = sum dy,
    //   dx = gamma * inv_std / m * (m * dy - sum dy - xh * sum(dy * xh)).
    static void backward(const Pass& p) {
      const float* gamma = p.params;
      const float* mean = p.scratch;
      const float* inv_std = p.scratch + C;
      const std::size_t rows = p.batch * positions;
      std::vector<double> sdy(C), sdyx(C);
      kernels::batchnorm_backward_sums<C>(p.in, p.dout, rows, mean, inv_std, sdy.data(),
                                          sdyx.data());
      for (std::size_t c = 0; c < C; ++c) {
        p.grads[c] += static_cast<float>(sdyx[c]);
        p.grads[C + c] += static_cast<float>(sdy[c]);
      }
      if (!p.din) return;
      if (p.training) {
        kernels::batchnorm_backward_input<C>(p.in, p.dout, rows, gamma, mean, inv_std, sdy.data(),
                                             sdyx.data(), p.din);
      } else {  // the statistics are constants in inference mode
        std::vector<float> scale(C);
        for (std::size_t c = 0; c < C; ++c) scale[c] = gamma[c] * inv_std[c];
        kernels::batchnorm_backward_input_frozen<C>(p.dout, rows, scale.data(), p.din);
      }
    }
  };
};
}  // namespace detail

/// BatchNorm: normalises each channel (the last axis: C of an Image, N of a Vector, F of a
/// Sequence) over the batch and all other positions, with PyTorch's Momentum = 0.1 and
/// Epsilon = 1e-5. BatchNorm::with<Momentum, Epsilon = 1e-5> is the same layer with other
/// constants (e.g. BatchNorm::with<0.01>, Keras' momentum 0.99).
///   training:  y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta, with the batch's mean and
///              biased variance; running_mean += Momentum * (mean_B - running_mean) and likewise
///              running_var with the unbiased batch variance (PyTorch's convention).
///   inference: the same with running_mean and running_var.
/// Parameters: gamma (C, init 1) then beta (C, init 0). State: running_mean (C, init 0) then
/// running_var (C, init 1), saved with the model. With several training threads each thread
/// normalises its share of the batch and the running statistics average the threads' updates.
/// Like ReLU or Flatten it is written without <>: every parameter has a default.
struct BatchNorm : detail::BatchNormSpec<detail::BatchNormDefaults> {
  template <auto MomentumValue, auto EpsilonValue = 1e-5>
  using with = detail::BatchNormSpec<detail::BatchNormConstants<MomentumValue, EpsilonValue>>;
};

}  // namespace ctnn
