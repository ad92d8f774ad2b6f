// ctnn/layers/dropout.hpp — Dropout (Srivastava et al. 2014, "inverted" scaling).
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "../error.hpp"
#include "layer.hpp"

namespace ctnn {

namespace detail {
// Checked in a class of its own, as Conv2D's sizes (conv2d.hpp).
template <bool Number, bool InRange>
struct check_dropout {
  static_assert(Number, "Dropout's rate is a number");
  static_assert(!Number || InRange, "Dropout rate must be in [0, 1)");
};
}  // namespace detail

/// Dropout<Rate>: any shape, unchanged. Rate may be written as a float or a double (0.3f, 0.3).
/// While training each value is zeroed with probability Rate and the kept ones are scaled by 1 / (1
/// - Rate), so that inference is the identity. Masks come from the per-thread generator of the
/// training loop (seeded, reproducible); a training-mode forward without a generator throws
/// InvalidArgument.
template <auto RateValue>
struct Dropout {
  static constexpr bool number = std::is_arithmetic_v<decltype(RateValue)>;
  static constexpr float Rate = [] {
    if constexpr (number)
      return static_cast<float>(RateValue);
    else
      return 0.0f;
  }();
  static constexpr bool in_range = Rate >= 0.0f && Rate < 1.0f;
  using checked_ [[maybe_unused]] = decltype(sizeof(detail::check_dropout<number, in_range>));

  template <class In>
  struct bind {
    static_assert(Shape<In>, "Dropout needs a shape input");
    using input_shape = In;
    using output_shape = In;
    static constexpr LayerKind kind = LayerKind::dropout;
    static constexpr bool keeps_order = true;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = In::size;  // the mask, 0 or 1/(1-Rate)
    static constexpr std::size_t scratch_fixed = 0;
    static constexpr std::size_t inference_scratch_per_sample = 0, inference_scratch_fixed = 0;
    static constexpr std::size_t flops = In::size;
    static std::string name() { return layer_name("Dropout", format_float(Rate)); }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) {
      const std::size_t n = p.batch * In::size;
      if (!p.training || Rate == 0.0f) {
        std::copy_n(p.in, n, p.out);
        return;
      }
      if (!p.rng) throw InvalidArgument("Dropout: training mode needs a random generator");
      const float keep = 1.0f / (1.0f - Rate);
      for (std::size_t i = 0; i < n; ++i) {
        p.scratch[i] = p.rng->uniform() < Rate ? 0.0f : keep;
        p.out[i] = p.in[i] * p.scratch[i];
      }
    }
    static void backward(const Pass& p) {
      if (!p.din) return;
      const std::size_t n = p.batch * In::size;
      if (!p.training || Rate == 0.0f) {
        std::copy_n(p.dout, n, p.din);
        return;
      }
      for (std::size_t i = 0; i < n; ++i) p.din[i] = p.dout[i] * p.scratch[i];
    }
  };
};

}  // namespace ctnn
