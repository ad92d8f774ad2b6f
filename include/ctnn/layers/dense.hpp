// ctnn/layers/dense.hpp — Dense (fully connected) and Flatten.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../attributes.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/transpose.hpp"
#include "layer.hpp"

namespace ctnn {

/// Flatten: any shape -> Vector<size>, the same floats in the same order (an Image row, column,
/// channel; a Sequence step, feature). Dense flattens an Image implicitly; Flatten makes it
/// explicit, and is the way to feed a whole Sequence to Dense.
struct Flatten {
  template <class In>
  struct bind {
    static_assert(Shape<In>, "Flatten needs a shape input");
    using input_shape = In;
    using output_shape = Vector<In::size>;
    static constexpr LayerKind kind = LayerKind::flatten;
    static constexpr bool keeps_order = true;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = 0;
    static std::string name() { return "Flatten"; }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) { std::copy_n(p.in, p.batch * In::size, p.out); }
    static void backward(const Pass& p) {
      if (p.din) std::copy_n(p.dout, p.batch * In::size, p.din);
    }
  };
};

namespace detail {
// Checked in a class of its own, as Conv2D's sizes (conv2d.hpp).
template <std::size_t Units>
struct check_dense {
  static_assert(Units > 0, "Dense needs at least one unit");
};
}  // namespace detail

/// Dense<Units, Initializer = init::GlorotUniform>: fully connected layer.
///
/// Input: Vector<In> or Image<H, W, C> (read flat, In = H*W*C); a Sequence is refused (reduce it
/// to a Vector first, e.g. with Flatten). Output: Vector<Units>.
///   y[n] = b[n] + sum_k x[k] * w[k, n]
/// Parameters: w (In x Units, layout [k][n]) then b (Units): In*Units + Units floats. PyTorch's
/// Linear weight [n][k] is the transpose. Weights by `Initializer` (fan_in = In,
/// fan_out = Units), biases zero.
template <std::size_t Units, class Initializer = init::GlorotUniform>
struct Dense {
  using checked_ [[maybe_unused]] = decltype(sizeof(detail::check_dense<Units>));

  // Rejected bindings (layer.hpp); with no units the assertion above has spoken.
  template <class In>
  struct bind : detail::Rejected<bind<In>, Units == 0> {
    template <class = void>
    struct report {
      static_assert(detail::always_false<In>, "Dense needs a Vector or Image input");
    };
  };
  template <std::size_t T, std::size_t F>
  struct bind<Sequence<T, F>> : detail::Rejected<bind<Sequence<T, F>>, Units == 0> {
    template <class = void>
    struct report {
      static_assert(detail::always_false<Sequence<T, F>>,
                    "Dense after a Sequence: reduce the sequence to a Vector first (Flatten "
                    "takes all steps)");
    };
  };

  template <class In>
  requires(Units > 0 && (is_vector_v<In> || is_image_v<In>)) struct bind<In> {
    static constexpr std::size_t N = Units, K = In::size;
    using input_shape = In;
    using output_shape = Vector<N>;
    static constexpr LayerKind kind = LayerKind::dense;
    static constexpr std::size_t weight_count = K * N;
    static constexpr std::size_t parameter_count = weight_count + N;
    static constexpr std::size_t state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0;
    static constexpr std::size_t scratch_fixed = K * N;  // transposed weights for backward
    static constexpr std::size_t inference_scratch_per_sample = 0, inference_scratch_fixed = 0;
    static constexpr std::size_t flops = 2 * K * N;

    CTNN_COLD static std::string name() { return layer_name("Dense", std::to_string(N)); }
    /// PyTorch's nn.Linear: weight [N, K] (ctnn's [k][n] transposed; a flattened image's K axis
    /// in PyTorch's (c, h, w) order), bias [N].
    CTNN_COLD static std::vector<TensorDesc> tensors(const TensorContext& ctx) {
      ElementOrder im = ctx.flat_input;
      if constexpr (is_image_v<In>)
        im = ElementOrder::of_image({In::height, In::width, In::channels});
      return {{"weight", {N, K}, [im](std::size_t e) { return im.from_chw(e % K) * N + e / K; }},
              {"bias", {N}, [](std::size_t e) { return weight_count + e; }}};
    }

    static void init(float* params, float*, Rng& rng) {
      Initializer::fill(params, weight_count, K, N, rng);
      std::fill(params + weight_count, params + parameter_count, 0.0f);
    }

    static void forward(const Pass& p) {
      constexpr kernels::Strides s{.a_row = K, .a_k2 = 1, .b_k2 = N, .c_row = N, .k2_count = K};
      kernels::gemm<s, N, kernels::Start::bias>(p.in, p.params, p.out,
                                                {.bias = p.params + weight_count}, p.batch, 1);
    }

    /// Forward with the fused operations Ops (layers/contract.hpp, FusesOps): a BatchNorm folded
    /// into the epilogue (affine: per unit), an addend, ReLU. The ReLU alone also in training
    /// (FusesInTraining): backward needs only the input.
    static constexpr unsigned fused_ops = fused::affine | fused::add | fused::relu;
    static constexpr unsigned training_fused_ops = fused::relu;
    template <unsigned Ops>
    static void forward_fused(const Pass& p, const FusedOutput& f) {
      constexpr kernels::Strides s{.a_row = K, .a_k2 = 1, .b_k2 = N, .c_row = N, .k2_count = K};
      constexpr kernels::Epilogue epilogue{.affine = (Ops & fused::affine) != 0,
                                           .add = (Ops & fused::add) != 0,
                                           .relu = (Ops & fused::relu) != 0};
      kernels::gemm<s, N, kernels::Start::bias, epilogue>(
          p.in, p.params, p.out,
          {.bias = p.params + weight_count, .scale = f.scale, .shift = f.shift, .addend = f.addend},
          p.batch, 1);
    }

    static void backward(const Pass& p) {
      // dw[k, n] += sum_b x[b, k] * dout[b, n]: rows k, reduction over the batch.
      constexpr kernels::Strides sw{
          .a_row = 1, .a_k1 = K, .a_k2 = 0, .b_k1 = N, .b_k2 = 0, .c_row = N, .k2_count = 1};
      kernels::gemm_fixed_rows<sw, K, N, kernels::Start::accumulate>(p.in, p.dout, p.grads, {},
                                                                     p.batch);
      kernels::add_column_sums<N>(p.dout, p.batch, p.grads + weight_count);
      if (!p.din) return;
      // din[b, k] = sum_n dout[b, n] * w[k, n], against the transposed weights wt[n][k].
      float* wt = p.scratch;
      kernels::transpose(p.params, K, N, N, wt, K);
      constexpr kernels::Strides sx{.a_row = N, .a_k2 = 1, .b_k2 = K, .c_row = K, .k2_count = N};
      kernels::gemm<sx, K, kernels::Start::zero>(p.dout, wt, p.din, {}, p.batch, 1);
    }
  };
};

}  // namespace ctnn
