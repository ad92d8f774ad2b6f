// ctnn/io/detail/model_tensors.hpp — what a model file (io/model_file.hpp, docs/model-format.md)
// knows of a network's layers: the tensor table of format 3, every layer's parameters and state
// as tensors in PyTorch's layout, so that the file does not depend on the layout the kernels keep
// in memory; and the checks of the values a file holds (check_values).
//
// A network's tensors, in layer order (a composite's parts in turn):
//   - a layer with tensors() (layer.hpp, TensorDesc; every layer of the library): its tensors in
//     the order tensors() lists them, with the names, shapes and element orders it gives (Conv2D
//     weight [F, C, K, K], Dense weight [N, K], the recurrent layers' weight_ih_l0 [G*H, F], ...),
//     the input of each layer read in ctnn's own order: a Vector made by Flatten keeps ctnn's
//     (h, w, c) order (unlike safetensors files, which permute it to PyTorch's (c, h, w)); a Dense
//     that reads an Image directly has its K axis in (c, h, w), as its tensors() gives it. Counters
//     (BatchNorm's num_batches_tracked), which ctnn does not keep, are left out;
//   - a layer without tensors() (a layer defined outside the library), or whose tensors() do not
//     name each of its values exactly once: its slices as they are in memory, "parameters" [P]
//     and "state" [S] (each only when not empty), kinds raw_parameters and raw_state. Such a
//     slice is in the layer's own layout: a file holding one depends on that layout.
// Names are those of a PyTorch nn.Sequential with one entry per layer, as in safetensors files:
// "3.weight" for layer 3 (from 0), "4.main.0.weight" for part 0 of the main path of layer 4.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../../attributes.hpp"
#include "../../error.hpp"
#include "../../layers/layer.hpp"

namespace ctnn::io::detail {

/// What a tensor of a format-3 model file holds (the u32 after its name).
enum class TensorKind : std::uint32_t {
  parameters = 0,      ///< parameters, in PyTorch's layout (the layer's TensorDesc)
  state = 1,           ///< state values, in PyTorch's layout
  raw_parameters = 2,  ///< a layer's parameter slice as it is in memory
  raw_state = 3,       ///< a layer's state slice as it is in memory
};

/// The kind as messages name it.
inline const char* kind_text(std::uint32_t kind) {
  switch (kind) {
    case 0:
      return "parameters";
    case 1:
      return "state";
    case 2:
      return "raw parameters";
    case 3:
      return "raw state";
    default:
      return "an unknown kind";
  }
}

/// One tensor of the table: element e (row-major over shape) of the file's tensor is
/// values[offset + index(e)], values being the network's parameters followed by its state, and
/// index the identity when empty (raw slices).
struct ModelTensor {
  std::string name;
  TensorKind kind = TensorKind::parameters;
  std::vector<std::uint64_t> shape;
  std::size_t offset = 0;
  std::function<std::size_t(std::size_t)> index;

  std::size_t elements() const {
    std::size_t n = 1;
    for (std::uint64_t d : shape) n *= static_cast<std::size_t>(d);
    return n;
  }
  std::size_t at(std::size_t e) const { return offset + (index ? index(e) : e); }
};

/// Whether `tensors`, the non-counter tensors of a layer with P parameters and S state values,
/// name each of them exactly once (offsets relative to the layer's slices).
inline bool covers_once(const std::vector<TensorDesc>& tensors, std::size_t P, std::size_t S) {
  std::vector<char> seen(P + S, 0);
  std::size_t count = 0;
  for (const TensorDesc& d : tensors) {
    std::size_t n = 1;
    for (std::uint64_t dim : d.shape) {
      if (dim > P + S || (dim > 0 && n > (P + S) / dim)) return false;
      n *= static_cast<std::size_t>(dim);
    }
    const std::size_t limit = d.in_state ? S : P, base = d.in_state ? P : 0;
    for (std::size_t e = 0; e < n; ++e) {
      const std::size_t i = d.index(e);
      if (i >= limit || seen[base + i]) return false;
      seen[base + i] = 1;
      ++count;
    }
  }
  return count == P + S;
}

/// Appends the tensors of a leaf layer with P parameters and S state values, named with prefix
/// `p`, its parameters at po in values and its state at so (already past the parameters):
/// `described` are its tensors() when it has them (counters included), else nullptr. The tensors
/// it describes when they name each value once, else its raw slices. Not a template, so that every
/// layer type shares one copy.
CTNN_COLD inline void add_tensors_of(std::vector<ModelTensor>& out, const std::string& p,
                                     std::size_t po, std::size_t so, std::size_t P, std::size_t S,
                                     std::vector<TensorDesc>* described) {
  if (P + S == 0) return;
  if (described) {
    std::vector<TensorDesc> tensors;
    for (TensorDesc& d : *described)
      if (!d.counter) tensors.push_back(std::move(d));
    if (covers_once(tensors, P, S)) {
      for (TensorDesc& d : tensors)
        out.push_back({p + d.name, d.in_state ? TensorKind::state : TensorKind::parameters,
                       std::move(d.shape), d.in_state ? so : po, std::move(d.index)});
      return;
    }
  }
  if (P > 0) out.push_back({p + "parameters", TensorKind::raw_parameters, {P}, po, {}});
  if (S > 0) out.push_back({p + "state", TensorKind::raw_state, {S}, so, {}});
}

/// Appends the tensors of the leaf layer L (no parts), as add_tensors_of.
template <class L>
CTNN_COLD void add_leaf_tensors(std::vector<ModelTensor>& out, const std::string& p, std::size_t po,
                                std::size_t so) {
  constexpr std::size_t P = L::parameter_count, S = L::state_count;
  if constexpr (P + S > 0) {
    if constexpr (requires(const TensorContext& c) { L::tensors(c); }) {
      std::vector<TensorDesc> described = L::tensors(TensorContext{});
      add_tensors_of(out, p, po, so, P, S, &described);
    } else {
      add_tensors_of(out, p, po, so, P, S, nullptr);
    }
  }
}

/// Appends the tensors of bound layer L, or of each of its parts when it is a composite
/// (recursively), as add_leaf_tensors.
template <class L>
CTNN_COLD void add_model_tensors(std::vector<ModelTensor>& out, const std::string& p,
                                 std::size_t po, std::size_t so) {
  if constexpr (requires { typename L::parts; }) {
    using Parts = typename L::parts;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (add_model_tensors<std::tuple_element_t<I, Parts>>(out, p + L::part_name(I) + ".",
                                                         po + L::info::parameter_offsets[I],
                                                         so + L::info::state_offsets[I]),
       ...);
    }
    (std::make_index_sequence<std::tuple_size_v<Parts>>{});
  } else {
    add_leaf_tensors<L>(out, p, po, so);
  }
}

/// The tensor table of Net, in the order a format-3 file stores the tensors.
template <class Net>
CTNN_COLD std::vector<ModelTensor> model_tensors() {
  std::vector<ModelTensor> out;
  std::size_t so = Net::parameter_count;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using L = typename Net::template layer<I>;
          add_model_tensors<L>(out, std::to_string(I) + ".", Net::template parameter_offset<I>, so);
          so += L::state_count;
        }(),
        ...);
  }
  (std::make_index_sequence<Net::layer_count>{});
  return out;
}

/// Whether `v` is a finite float, from its bits (so that -ffast-math cannot fold the test away).
inline bool finite_bits(float v) noexcept {
  return (std::bit_cast<std::uint32_t>(v) & 0x7f800000u) != 0x7f800000u;
}

/// Calls f.template operator()<L>(label, po, so) for layer L, whose parameters are at po and
/// state at so, or for each part of it when it is a composite (recursively): `label` is "layer 5"
/// for a layer of the network, "layer 5, part main.1" for a part inside one.
template <class L, class F>
CTNN_COLD void for_each_leaf(const std::string& label, bool in_part, std::size_t po, std::size_t so,
                             F& f) {
  if constexpr (requires { typename L::parts; }) {
    using Parts = typename L::parts;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (for_each_leaf<std::tuple_element_t<I, Parts>>(
           label + (in_part ? "." : ", part ") + L::part_name(I), true,
           po + L::info::parameter_offsets[I], so + L::info::state_offsets[I], f),
       ...);
    }
    (std::make_index_sequence<std::tuple_size_v<Parts>>{});
  } else {
    f.template operator()<L>(label, po, so);
  }
}

/// check_values for one leaf layer `name` (labelled `label`) with P parameters at values[po]
/// and S state values at `state`; `batchnorm` checks the running variances (the second half of
/// the state). Not a template, so that every layer type shares one copy.
CTNN_COLD inline void check_leaf_values(const float* params, std::size_t P, const float* state,
                                        std::size_t S, bool batchnorm, const std::string& path,
                                        const std::string& where, const std::string& label,
                                        const std::string& name) {
  auto fail = [&](const std::string& what, std::size_t i, std::size_t n, float v,
                  const char* must) {
    throw FileError(path, where + label + " (" + name + "): " + what + " " + std::to_string(i) +
                              " (of " + std::to_string(n) + ") is " + format_float(v) + "; " +
                              must);
  };
  for (std::size_t i = 0; i < P; ++i)
    if (!finite_bits(params[i])) fail("parameter", i, P, params[i], "parameters must be finite");
  for (std::size_t i = 0; i < S; ++i)
    if (!finite_bits(state[i])) fail("state value", i, S, state[i], "the state must be finite");
  if (batchnorm) {
    // State: running_mean [C], then running_var [C].
    const std::size_t C = S / 2;
    for (std::size_t c = 0; c < C; ++c)
      if (state[C + c] < 0.0f)
        fail("running variance of channel", c, C, state[C + c], "a variance must be >= 0");
  }
}

/// Checks the values of a model for Net, its parameters followed by its state: every value must
/// be finite, and every BatchNorm's running variance >= 0. Throws FileError naming `path`
/// (messages prefixed by `where`), the layer ("layer 4 (Dense<16>)", or "layer 5, part main.1
/// (BatchNorm<0.1,1e-05>)" inside a composite), the index of the value in the layer's parameters
/// or state (or the channel) and the value.
template <class Net>
CTNN_COLD void check_values(const std::vector<float>& values, const std::string& path,
                            const std::string& where = "") {
  auto visit = [&]<class L>(const std::string& label, std::size_t po, std::size_t so) {
    if constexpr (L::parameter_count + L::state_count > 0)
      check_leaf_values(values.data() + po, L::parameter_count,
                        values.data() + Net::parameter_count + so, L::state_count,
                        kind_of<L>() == LayerKind::batchnorm, path, where, label, L::name());
  };
  std::size_t so = 0;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using L = typename Net::template layer<I>;
          for_each_leaf<L>("layer " + std::to_string(I + 1), false,
                           Net::template parameter_offset<I>, so, visit);
          so += L::state_count;
        }(),
        ...);
  }
  (std::make_index_sequence<Net::layer_count>{});
}

}  // namespace ctnn::io::detail
