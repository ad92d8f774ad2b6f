// ctnn/layers/recurrent.hpp — LSTM, GRU, SimpleRNN and Bidirectional, trained by
// backpropagation through time.
//
// Input: Sequence<T, F>, or Image<H, W, C> read as H steps of W*C features (row by row, channels
// innermost: the same floats, no copy). Output: Vector<Units> (the last step's hidden state), or
// Sequence<T, Units> (every step's) with ReturnSequences = true. The initial state is zero.
//
// Parameters, per layer, in this order (G = 4 for LSTM, 3 for GRU, 1 for SimpleRNN; gates in
// PyTorch's order, LSTM i, f, g, o and GRU r, z, n; gate g of unit j is column g*Units + j):
//   W_x  F x G*Units      = PyTorch weight_ih_l0 transposed, row-major: W_x[k][n] at k*G*Units + n
//   W_h  Units x G*Units  = PyTorch weight_hh_l0 transposed, in column panels (below)
//   b_x  G*Units          = PyTorch bias_ih_l0
//   b_h  G*Units          = PyTorch bias_hh_l0
// so G*Units*(F + Units + 2) floats, one to one with a PyTorch state_dict. Initialisation as
// PyTorch: every weight and bias uniform on [-1/sqrt(Units), 1/sqrt(Units)].
//
// W_h is stored as column panels of recurrent_panel_width (64) columns, the last one narrower
// when G*Units is not a multiple of 64; each panel is Units rows of its width, contiguous.
// recurrent_panel_offset(k, n, Units, G*Units) gives the position of W_h[k][n]. The per-step
// product then streams each panel front to back instead of striding across rows of G*Units
// floats, with no repacking per call. The layout does not depend on the SIMD width.
//
// Computation: the input projection of all steps, X W_x + b_x, is one GEMM over batch*T rows
// before the recurrence (column block by column block when W_x is too large to stay in a core's
// L2 cache, so that it is read once); each step then multiplies the batch's h_{t-1} by W_h (one
// GEMM per panel with the gates stacked as columns) and applies the cell
// (kernels/rnn_cells.hpp). When W_h is larger than half of an L2 cache, alternate steps visit
// the panels in reverse order, so that a step starts on the panels the previous one used last
// and still finds them in cache. Backward runs the steps in reverse, then computes the weight and
// input gradients of all steps as batched GEMMs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../attributes.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/rnn_cells.hpp"
#include "../kernels/transpose.hpp"
#include "layer.hpp"

namespace ctnn {

/// Column width of the panels in which recurrent layers store W_h (see the header comment).
inline constexpr std::size_t recurrent_panel_width = 64;

/// Position of element (k, n) of a `rows` x `columns` matrix stored in column panels of
/// recurrent_panel_width: panel n / 64 starts at (n / 64) * 64 * rows and holds `rows` rows of
/// its width (64, or columns % 64 for a narrower last panel).
constexpr std::size_t recurrent_panel_offset(std::size_t k, std::size_t n, std::size_t rows,
                                             std::size_t columns) {
  const std::size_t j = n / recurrent_panel_width, first = j * recurrent_panel_width;
  const std::size_t width = std::min(recurrent_panel_width, columns - first);
  return first * rows + k * width + (n - first);
}

namespace detail {
/// The LayerKind of a recurrent layer with cell Cell (the kernels know no layers).
template <class Cell>
inline constexpr LayerKind cell_kind =
    std::is_same_v<Cell, kernels::LstmCell>  ? LayerKind::lstm
    : std::is_same_v<Cell, kernels::GruCell> ? LayerKind::gru
                                             : LayerKind::simple_rnn;

/// The sequence view of a recurrent layer's input: Sequence<T, F> as is, Image<H, W, C> as H
/// steps of W*C features.
template <class In>
struct as_sequence;
template <std::size_t T, std::size_t F>
struct as_sequence<Sequence<T, F>> {
  static constexpr std::size_t steps = T, features = F;
};
template <std::size_t H, std::size_t W, std::size_t C>
struct as_sequence<Image<H, W, C>> {
  static constexpr std::size_t steps = H, features = W * C;
};

// Checked in classes of their own, as Conv2D's sizes (conv2d.hpp).
template <std::size_t Units>
struct check_recurrent {
  static_assert(Units > 0, "recurrent layers need at least one unit");
};
template <bool Recurrent>
struct check_bidirectional {
  static_assert(Recurrent, "Bidirectional takes a recurrent layer: LSTM, GRU or SimpleRNN");
};

template <class Cell, std::size_t Units, bool ReturnSequences>
struct Recurrent {
  using checked_ [[maybe_unused]] = decltype(sizeof(check_recurrent<Units>));

  // Rejected bindings (layer.hpp); with no units the assertion above has spoken.
  template <class In>
  struct bind : Rejected<bind<In>, Units == 0> {
    template <class = void>
    struct report {
      static_assert(always_false<In>,
                    "recurrent layers need a Sequence<T,F> or Image<H,W,C> input (the "
                    "instantiation notes show the shape they got)");
    };
  };

  template <class In>
  requires(Units > 0 && (is_sequence_v<In> || is_image_v<In>)) struct bind<In> {
    static constexpr std::size_t T = as_sequence<In>::steps, F = as_sequence<In>::features;
    static constexpr std::size_t H = Units, G = Cell::gates, GH = G * H;
    using input_shape = In;
    using output_shape = std::conditional_t<ReturnSequences, Sequence<T, H>, Vector<H>>;
    static constexpr LayerKind kind = detail::cell_kind<Cell>;

    static constexpr std::size_t wx = 0, wh = F * GH, bx = wh + H * GH, bh = bx + GH;
    static constexpr std::size_t parameter_count = bh + GH;
    static constexpr std::size_t state_count = 0;
    // Per sample: xp, act, dxp, dhp (T*GH each); aux, h (T*H each); hp (GH); dh, dh_next,
    // carry (H each).
    static constexpr std::size_t scratch_per_sample = 4 * T * GH + 2 * T * H + GH + 3 * H;
    // Transposed W_h and W_x for backward, and a zero state.
    static constexpr std::size_t scratch_fixed = GH * H + GH * F + H;
    // Inference: xp, act (T*GH each), aux, h (T*H each), hp (GH) per sample and the zero state,
    // which Buffers lays out first.
    static constexpr std::size_t inference_scratch_per_sample = 2 * T * GH + 2 * T * H + GH;
    static constexpr std::size_t inference_scratch_fixed = H;
    static constexpr std::size_t PW = recurrent_panel_width;
    static constexpr std::size_t panels = GH / PW, tail = GH % PW;
    // Weights that no longer fit in (half of) a 1 MB L2 cache change the loop order; see the
    // header comment.
    static constexpr std::size_t l2_bytes = std::size_t{512} << 10;
    static constexpr bool wx_in_blocks = F * GH * sizeof(float) > l2_bytes;
    static constexpr bool alternate_panels = H * GH * sizeof(float) > l2_bytes;
    // Input projection of T steps, recurrent products of T-1 steps (h_0 = 0), and about ten
    // operations per gate value for the cell.
    static constexpr std::size_t flops = 2 * GH * (T * F + (T - 1) * H) + 10 * T * GH;

    /// PyTorch's nn.LSTM / nn.GRU / nn.RNN (one layer, batch_first): weight_ih_l0 [G*H, F] (W_x
    /// transposed), weight_hh_l0 [G*H, H] (W_h, stored in column panels, transposed), bias_ih_l0
    /// [G*H], bias_hh_l0 [G*H]; PyTorch's gate order. `suffix` names the reverse direction of a
    /// bidirectional layer ("_reverse") and `offset` its slice.
    CTNN_COLD static std::vector<TensorDesc> tensors(const TensorContext&,
                                                     const std::string& suffix = "",
                                                     std::size_t offset = 0) {
      return {{"weight_ih_l0" + suffix,
               {GH, F},
               [offset](std::size_t e) { return offset + wx + e % F * GH + e / F; }},
              {"weight_hh_l0" + suffix,
               {GH, H},
               [offset](std::size_t e) {
                 return offset + wh + recurrent_panel_offset(e % H, e / H, H, GH);
               }},
              {"bias_ih_l0" + suffix, {GH}, [offset](std::size_t e) { return offset + bx + e; }},
              {"bias_hh_l0" + suffix, {GH}, [offset](std::size_t e) { return offset + bh + e; }}};
    }
    static std::string name() {
      return layer_name(Cell::name, std::to_string(H),
                        std::string(ReturnSequences ? "true" : "false"));
    }

    static void init(float* params, float*, Rng& rng) {
      const float l = 1.0f / std::sqrt(static_cast<float>(H));
      for (std::size_t i = 0; i < parameter_count; ++i) params[i] = rng.uniform(-l, l);
    }

    struct Buffers {
      float *xp, *act, *dxp, *dhp, *aux, *h, *hp, *dh, *dh_next, *carry;
      float *wht, *wxt, *zero;
      // What forward needs in inference comes first (inference_scratch_*).
      Buffers(float* s, std::size_t batch) {
        for (float** p : {&xp, &act}) *p = s, s += batch * T * GH;
        for (float** p : {&aux, &h}) *p = s, s += batch * T * H;
        hp = s, s += batch * GH;
        zero = s, s += H;
        for (float** p : {&dxp, &dhp}) *p = s, s += batch * T * GH;
        for (float** p : {&dh, &dh_next, &carry}) *p = s, s += batch * H;
        wht = s, s += GH * H;
        wxt = s;
      }
    };

    /// Calls f(width, n0) for the column panels [n0, n0 + width) of the GH gate columns, width a
    /// std::integral_constant (PW, or `tail` for the last panel); in reverse order if `reversed`.
    template <class Fn>
    static void for_each_panel(Fn&& f, bool reversed = false) {
      const auto last = [&] {
        if constexpr (tail > 0) f(std::integral_constant<std::size_t, tail>{}, panels * PW);
      };
      if (reversed) last();
      for (std::size_t i = 0; i < panels; ++i)
        f(std::integral_constant<std::size_t, PW>{}, (reversed ? panels - 1 - i : i) * PW);
      if (!reversed) last();
    }

    /// hp[b] = h_prev[b] W_h + b_h for the B rows of one step (h rows T*H floats apart), panel
    /// by panel, in reverse panel order when `reversed`.
    static void recurrent_product(const float* h_prev, const float* w, const float* bias, float* hp,
                                  std::size_t B, bool reversed) {
      for_each_panel(
          [&](auto width, std::size_t n0) {
            constexpr std::size_t N = decltype(width)::value;
            constexpr kernels::Strides s{
                .a_row = T * H, .a_k2 = 1, .b_k2 = N, .c_row = GH, .k2_count = H};
            kernels::gemm<s, N, kernels::Start::bias>(h_prev, w + n0 * H, hp + n0,
                                                      {.bias = bias + n0}, B, 1);
          },
          reversed);
    }

    /// xp = X W_x + b_x for all `rows` = batch*T rows.
    static void input_projection(const float* x, const float* w, const float* bias, float* xp,
                                 std::size_t rows) {
      constexpr kernels::Strides input_strides{
          .a_row = F, .a_k2 = 1, .b_k2 = GH, .c_row = GH, .k2_count = F};
      if constexpr (wx_in_blocks) {
        // Column blocks of PW: every row block reuses the block of W_x from cache.
        for_each_panel([&](auto width, std::size_t n0) {
          constexpr std::size_t N = decltype(width)::value;
          kernels::gemm<input_strides, N, kernels::Start::bias>(x, w + n0, xp + n0,
                                                                {.bias = bias + n0}, rows, 1);
        });
      } else {
        kernels::gemm<input_strides, GH, kernels::Start::bias>(x, w, xp, {.bias = bias}, rows, 1);
      }
    }

    static void forward(const Pass& p) {
      const std::size_t B = p.batch;
      Buffers s(p.scratch, B);
      std::fill(s.zero, s.zero + H, 0.0f);
      // Input projection of every step: rows (b, t).
      input_projection(p.in, p.params + wx, p.params + bx, s.xp, B * T);
      for (std::size_t t = 0; t < T; ++t) {
        if (t == 0) {
          for (std::size_t b = 0; b < B; ++b) std::copy_n(p.params + bh, GH, s.hp + b * GH);
        } else {
          recurrent_product(s.h + (t - 1) * H, p.params + wh, p.params + bh, s.hp, B,
                            alternate_panels && t % 2 == 0);
        }
        for (std::size_t b = 0; b < B; ++b) {
          const std::size_t r = b * T + t;
          Cell::template forward<H>(
              s.xp + r * GH, s.hp + b * GH, t == 0 ? s.zero : s.aux + (r - 1) * H,
              t == 0 ? s.zero : s.h + (r - 1) * H, s.act + r * GH, s.aux + r * H, s.h + r * H);
        }
      }
      if constexpr (ReturnSequences)
        std::copy_n(s.h, B * T * H, p.out);
      else
        for (std::size_t b = 0; b < B; ++b)
          std::copy_n(s.h + (b * T + T - 1) * H, H, p.out + b * H);
    }

    static void backward(const Pass& p) {
      const std::size_t B = p.batch;
      Buffers s(p.scratch, B);
      for_each_panel([&](auto width, std::size_t n0) {  // W_h^T from the panels
        kernels::transpose(p.params + wh + n0 * H, H, width, width, s.wht + n0 * H, H);
      });
      std::fill(s.dh_next, s.dh_next + B * H, 0.0f);
      std::fill(s.carry, s.carry + B * H, 0.0f);
      for (std::size_t t = T; t-- > 0;) {
        for (std::size_t b = 0; b < B; ++b) {
          const std::size_t r = b * T + t;
          float* dh = s.dh + b * H;
          const float* next = s.dh_next + b * H;
          if constexpr (ReturnSequences) {
            for (std::size_t j = 0; j < H; ++j) dh[j] = next[j] + p.dout[r * H + j];
          } else if (t == T - 1) {
            for (std::size_t j = 0; j < H; ++j) dh[j] = next[j] + p.dout[b * H + j];
          } else {
            std::copy_n(next, H, dh);
          }
          Cell::template backward<H>(s.act + r * GH, s.aux + r * H,
                                     t == 0 ? s.zero : s.aux + (r - 1) * H,
                                     t == 0 ? s.zero : s.h + (r - 1) * H, dh, s.carry + b * H,
                                     s.dxp + r * GH, s.dhp + r * GH, s.dh_next + b * H);
        }
        if (t > 0) {  // dh_{t-1} = direct part + dhp_t W_h^T
          constexpr kernels::Strides sh{
              .a_row = T * GH, .a_k2 = 1, .b_k2 = H, .c_row = H, .k2_count = GH};
          kernels::gemm<sh, H, kernels::Start::accumulate>(s.dhp + t * GH, s.wht, s.dh_next, {}, B,
                                                           1);
        }
      }
      // Weight gradients over all steps: dW_x += X^T dxp, dW_h += H_{t-1}^T dhp_t (t >= 1).
      // Rows: input feature f; k1 = sample, k2 = step.
      constexpr kernels::Strides swx{.a_row = 1,
                                     .a_k1 = T * F,
                                     .a_k2 = F,
                                     .b_k1 = T * GH,
                                     .b_k2 = GH,
                                     .c_row = GH,
                                     .k2_count = T};
      kernels::gemm_fixed_rows<swx, F, GH, kernels::Start::accumulate>(p.in, s.dxp, p.grads + wx,
                                                                       {}, B);
      if constexpr (T > 1) {  // into W_h's panels
        for_each_panel([&](auto width, std::size_t n0) {
          constexpr std::size_t N = decltype(width)::value;
          constexpr kernels::Strides swh{.a_row = 1,
                                         .a_k1 = T * H,
                                         .a_k2 = H,
                                         .b_k1 = T * GH,
                                         .b_k2 = GH,
                                         .c_row = N,
                                         .k2_count = T - 1};
          kernels::gemm_fixed_rows<swh, H, N, kernels::Start::accumulate>(
              s.h, s.dhp + GH + n0, p.grads + wh + n0 * H, {}, B);
        });
      }
      kernels::add_column_sums<GH>(s.dxp, B * T, p.grads + bx);
      kernels::add_column_sums<GH>(s.dhp, B * T, p.grads + bh);
      if (!p.din) return;
      kernels::transpose(p.params + wx, F, GH, GH, s.wxt, F);
      constexpr kernels::Strides sx{.a_row = GH, .a_k2 = 1, .b_k2 = F, .c_row = F, .k2_count = GH};
      kernels::gemm<sx, F, kernels::Start::zero>(s.dxp, s.wxt, p.din, {}, B * T, 1);
    }
  };
};

template <class Spec>
struct is_recurrent {
  template <class C, std::size_t U, bool R>
  static std::true_type test(const Recurrent<C, U, R>*);
  static std::false_type test(...);
  static constexpr bool value = decltype(test(static_cast<const Spec*>(nullptr)))::value;
};

}  // namespace detail

/// LSTM<Units, ReturnSequences = false>: see the header comment; cell equations in
/// kernels/rnn_cells.hpp (LstmCell).
template <std::size_t Units, bool ReturnSequences = false>
struct LSTM : detail::Recurrent<kernels::LstmCell, Units, ReturnSequences> {};

/// GRU<Units, ReturnSequences = false>: see the header comment and kernels::GruCell.
template <std::size_t Units, bool ReturnSequences = false>
struct GRU : detail::Recurrent<kernels::GruCell, Units, ReturnSequences> {};

/// SimpleRNN<Units, ReturnSequences = false>: h_t = tanh(W_x^T x_t + b_x + W_h^T h_{t-1} + b_h).
template <std::size_t Units, bool ReturnSequences = false>
struct SimpleRNN : detail::Recurrent<kernels::RnnTanhCell, Units, ReturnSequences> {};

/// Bidirectional<Layer>: runs Layer forward in time and a second Layer (its own parameters) on
/// the time-reversed input, and concatenates their outputs per step, forward first:
///   ReturnSequences = false: Vector<2*Units> = [h_fwd at the last step, h_bwd at the first]
///   ReturnSequences = true:  Sequence<T, 2*Units>, step t = [h_fwd_t, h_bwd_t]
/// as PyTorch's bidirectional modules (the Vector is PyTorch's cat(h_n[0], h_n[1])).
/// Parameters: the forward layer's, then the backward layer's (PyTorch's *_l0 and *_l0_reverse
/// tensors).
template <class Layer>
struct Bidirectional {
  static constexpr bool recurrent = detail::is_recurrent<Layer>::value;
  using checked_ [[maybe_unused]] = decltype(sizeof(detail::check_bidirectional<recurrent>));

  // Rejected bindings (layer.hpp): the wrapped layer's message, or none when Layer is not
  // recurrent (the assertion above has spoken).
  template <class In>
  struct bind : detail::Rejected<bind<In>, !recurrent> {
    template <class = void>
    struct report {
      using message [[maybe_unused]] =
          typename detail::report_of<typename Layer::template bind<In>>::type;
    };
  };

  template <class In>
  requires(recurrent && !detail::rejected_v<typename Layer::template bind<In>>) struct bind<In> {
    using L = typename Layer::template bind<In>;
    static constexpr std::size_t T = detail::as_sequence<In>::steps;
    static constexpr std::size_t F = detail::as_sequence<In>::features;
    static constexpr bool sequences = is_sequence_v<typename L::output_shape>;
    static constexpr std::size_t U = sequences ? L::output_shape::size / T : L::output_shape::size;
    static constexpr std::size_t IN = In::size, O = L::output_shape::size;
    using input_shape = In;
    using output_shape = std::conditional_t<sequences, Sequence<T, 2 * U>, Vector<2 * U>>;
    static constexpr LayerKind kind = LayerKind::bidirectional;
    static constexpr std::size_t parameter_count = 2 * L::parameter_count;
    static constexpr std::size_t state_count = 0;
    static constexpr std::size_t scratch_per_sample = 2 * L::scratch_per_sample + 3 * IN + 4 * O;
    static constexpr std::size_t scratch_fixed = 2 * L::scratch_fixed;
    // Inference: the two directions' inference scratch, the reversed input and both outputs.
    static constexpr std::size_t inference_scratch_per_sample =
        2 * ctnn::inference_scratch_per_sample<L>() + IN + 2 * O;
    static constexpr std::size_t inference_scratch_fixed = 2 * ctnn::inference_scratch_fixed<L>();
    static constexpr std::size_t flops = 2 * L::flops;

    static std::string name() { return "Bidirectional<" + L::name() + ">"; }
    /// PyTorch's bidirectional layer: the forward direction's four tensors, then the same names
    /// with the suffix _reverse for the backward direction.
    static std::vector<TensorDesc> tensors(const TensorContext& ctx) {
      auto t = L::tensors(ctx);
      for (auto& r : L::tensors(ctx, "_reverse", L::parameter_count)) t.push_back(std::move(r));
      return t;
    }

    static void init(float* params, float* state, Rng& rng) {
      L::init(params, state, rng);
      L::init(params + L::parameter_count, state, rng);
    }

    struct Buffers {
      float *fwd, *bwd, *in_r, *out_f, *out_r, *dout_f, *dout_r, *din_f, *din_r;
      // With an inference-only scratch (Pass::inference_only) the directions get their
      // inference scratch and the gradient buffers are left out.
      Buffers(float* s, std::size_t batch, bool inference_only = false) {
        const std::size_t ls = inference_only ? batch * ctnn::inference_scratch_per_sample<L>() +
                                                    ctnn::inference_scratch_fixed<L>()
                                              : batch * L::scratch_per_sample + L::scratch_fixed;
        fwd = s, s += ls;
        bwd = s, s += ls;
        in_r = s, s += batch * IN;
        for (float** p : {&out_f, &out_r}) *p = s, s += batch * O;
        if (inference_only) {
          din_f = din_r = dout_f = dout_r = nullptr;
          return;
        }
        for (float** p : {&din_f, &din_r}) *p = s, s += batch * IN;
        for (float** p : {&dout_f, &dout_r}) *p = s, s += batch * O;
      }
    };

    /// Reverses the step order of `batch` sequences of `steps` x `width` floats.
    static void reverse(const float* x, float* y, std::size_t batch, std::size_t width) {
      for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t t = 0; t < T; ++t)
          std::copy_n(x + (b * T + t) * width, width, y + (b * T + T - 1 - t) * width);
    }

    static Pass sub(const Pass& p, float* scratch, std::size_t half) {
      Pass q = p;
      q.params = p.params + half * L::parameter_count;
      q.grads = p.grads ? p.grads + half * L::parameter_count : nullptr;
      q.scratch = scratch;
      return q;
    }

    static void forward(const Pass& p) {
      Buffers s(p.scratch, p.batch, p.inference_only);
      reverse(p.in, s.in_r, p.batch, F);
      Pass f = sub(p, s.fwd, 0), r = sub(p, s.bwd, 1);
      f.out = s.out_f;
      r.in = s.in_r;
      r.out = s.out_r;
      L::forward(f);
      L::forward(r);
      for (std::size_t b = 0; b < p.batch; ++b)
        for (std::size_t t = 0; t < (sequences ? T : 1); ++t) {
          const std::size_t tr = sequences ? T - 1 - t : 0;
          float* y = p.out + (b * (sequences ? T : 1) + t) * 2 * U;
          std::copy_n(s.out_f + (b * (sequences ? T : 1) + t) * U, U, y);
          std::copy_n(s.out_r + (b * (sequences ? T : 1) + tr) * U, U, y + U);
        }
    }

    static void backward(const Pass& p) {
      Buffers s(p.scratch, p.batch);
      for (std::size_t b = 0; b < p.batch; ++b)
        for (std::size_t t = 0; t < (sequences ? T : 1); ++t) {
          const std::size_t tr = sequences ? T - 1 - t : 0;
          const float* g = p.dout + (b * (sequences ? T : 1) + t) * 2 * U;
          std::copy_n(g, U, s.dout_f + (b * (sequences ? T : 1) + t) * U);
          std::copy_n(g + U, U, s.dout_r + (b * (sequences ? T : 1) + tr) * U);
        }
      Pass f = sub(p, s.fwd, 0), r = sub(p, s.bwd, 1);
      f.out = s.out_f;
      f.dout = s.dout_f;
      f.din = p.din ? s.din_f : nullptr;
      r.in = s.in_r;
      r.out = s.out_r;
      r.dout = s.dout_r;
      r.din = p.din ? s.din_r : nullptr;
      L::backward(f);
      L::backward(r);
      if (!p.din) return;
      reverse(s.din_r, p.din, p.batch, F);
      for (std::size_t i = 0; i < p.batch * IN; ++i) p.din[i] += s.din_f[i];
    }
  };
};

}  // namespace ctnn
