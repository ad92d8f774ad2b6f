// ctnn/io/safetensors.hpp — save_safetensors() and load_safetensors(): a network's parameters as
// a PyTorch state_dict in a safetensors file, for exchanging weights with PyTorch.
//
// File format (https://github.com/huggingface/safetensors, "Format"): a u64 little-endian header
// length N, N bytes of JSON, then the data buffer. The JSON maps each tensor name to
//   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
// (byte offsets relative to the start of the buffer, data row-major and little-endian) and may
// hold "__metadata__": {string: string}. Saved files carry the metadata
//   {"format": "pt", "ctnn_signature": Net::signature(), "ctnn_tensor_order": "2"}
// and pad the header with spaces so that the buffer starts at a multiple of 8 bytes. Tensor
// names and shapes identify the parameters; of the metadata, loading uses only
// ctnn_tensor_order and ctnn_signature, to choose the element order (see Image order).
//
// Names and layouts are those of a PyTorch nn.Sequential with one entry per ctnn layer, i being
// the 0-based layer index (Input not counted). Tensors are F32 unless noted; layers without
// parameters (activations, pooling, Flatten, Dropout, Softmax) have no tensors.
//   Conv2D      {i}.weight [F, C, K, K]     ctnn w[kh][kw][c][f] permuted to PyTorch's OIHW
//               {i}.bias   [F]
//   Dense       {i}.weight [N, K]           ctnn w[k][n] transposed
//               {i}.bias   [N]
//   BatchNorm   {i}.weight [C] (gamma), {i}.bias [C] (beta), {i}.running_mean [C],
//               {i}.running_var [C], {i}.num_batches_tracked (I64, shape []: written as 0,
//               optional and ignored when loading)
//   LSTM, GRU,  {i}.weight_ih_l0 [G*H, F]   W_x transposed (G = 4, 3, 1; PyTorch's gate order)
//   SimpleRNN   {i}.weight_hh_l0 [G*H, H]   W_h transposed
//               {i}.bias_ih_l0 [G*H], {i}.bias_hh_l0 [G*H]
//   Bidirectional  the four tensors above for the forward direction, and the same names with the
//               suffix _reverse (weight_ih_l0_reverse, ...) for the backward direction
// Image order: ctnn flattens an Image<H, W, C> channels-last, (h, w, c), while PyTorch's
// nn.Flatten after NCHW convolutions yields (c, h, w). When a Dense reads an image (its input is
// an Image, or a Vector made by Flatten from an Image with only activations, Softmax, Dropout or
// BatchNorm in between), the K axis of {i}.weight is PyTorch's (c, h, w) order: column
// (c*H + h)*W + w holds ctnn's row (h*W + w)*C + c. A BatchNorm on such a Vector is permuted the
// same way. The order passes through composites: a Chain's output is in the order of its last
// part's (a Chain ending in Flatten gives a flattened image), a Concat of Vectors' is its
// branches' one after the other (each permuted on its own), a Residual's is that of Main and
// Shortcut, which must agree (a compile error otherwise). Recurrent layers that read an Image take
// its rows as steps of W*C features with channels innermost; the PyTorch model must feed them
// x.permute(0, 2, 3, 1).reshape(B, H, W*C). Files of ctnn_tensor_order "2" (as saved here) and
// files without ctnn_signature (PyTorch's) are read in this order. Files saved before that key
// existed (ctnn 0.1.0: ctnn_signature, no ctnn_tensor_order) are in order "1", where the order did
// not pass through composites (a Dense or BatchNorm after one was not permuted); they, and files
// marked "1", are read in that order and give the outputs they gave then. Any other
// ctnn_tensor_order is refused.
//
// Errors: both functions throw FileError (message "<path>: <reason>") and leave `net` unchanged
// when loading fails; see load_safetensors() for the reasons.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../shape.hpp"
#include "detail/json_linkage.hpp"
#include "model_file.hpp"

namespace ctnn {

namespace io::safetensors_detail {

/// Largest header accepted, as in the reference implementation (100 MB).
inline constexpr std::uint64_t max_header_bytes = 100'000'000;

/// One tensor of the file: its name and PyTorch shape, and where each element lives in ctnn's
/// arrays: element e (row-major over shape) is array[offset + index(e)], the array being
/// parameters() or, with in_state, state(). A counter is BatchNorm's num_batches_tracked.
struct TensorMap {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::size_t offset = 0;
  std::function<std::size_t(std::size_t)> index;
  bool in_state = false;
  bool counter = false;

  std::size_t elements() const {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::size_t bytes() const { return counter ? 8 : 4 * elements(); }
  const char* dtype() const { return counter ? "I64" : "F32"; }
};

/// The element orders of a file, its metadata's "ctnn_tensor_order" (see the header comment):
/// v2, PyTorch's (c, h, w) order passes through composites; v1, as ctnn 0.1.0 saved its files,
/// the Vector output of a composite (Chain, Residual, Concat), also of one nested in another,
/// counts as in the same order in both libraries, so the layer reading it is not permuted;
/// between other layers, also inside a composite, the order passes on as in v2.
enum class TensorOrder { v1 = 1, v2 = 2 };

/// Element orders at compile time (ElementOrder, layer.hpp, at run time): order<S...> of
/// segments same_order<N>, N elements in the same order in ctnn and PyTorch, and
/// image_order<P, C>, an image of P = H*W positions and C channels that ctnn flattens (h, w, c)
/// and PyTorch (c, h, w) (the map depends on H*W and C only). Normalised: an image of one channel
/// or one position is in the same order, and neighbouring same-order segments are one, so that
/// two orders are the same map exactly when they are the same type.
template <std::size_t N>
struct same_order {};
template <std::size_t P, std::size_t C>
struct image_order {};
template <class... Segments>
struct order {};

/// Segment S in front of order O (merged with a same-order segment there).
template <class S, class O>
struct prepend;
template <class S, class... R>
struct prepend<S, order<R...>> {
  using type = order<S, R...>;
};
template <std::size_t A, std::size_t B, class... R>
struct prepend<same_order<A>, order<same_order<B>, R...>> {
  using type = order<same_order<A + B>, R...>;
};

/// The orders Os one after the other, as a Concat of Vectors joins its branches' elements.
template <class... Os>
struct join {
  using type = order<>;
};
template <class... R, class... Os>
struct join<order<>, order<R...>, Os...> : join<order<R...>, Os...> {};
template <class S, class... R, class... Os>
struct join<order<S, R...>, Os...> {
  using type = typename prepend<S, typename join<order<R...>, Os...>::type>::type;
};

/// The order of shape In read flat by itself: an Image's flattening; the same order for a
/// Vector and for a Sequence (both libraries flatten a sequence step by step).
template <class In>
struct own_order {
  using type = order<same_order<In::size>>;
};
template <std::size_t H, std::size_t W, std::size_t C>
struct own_order<Image<H, W, C>> {
  using type = std::conditional_t<C == 1 || H * W == 1, order<same_order<H * W * C>>,
                                  order<image_order<H * W, C>>>;
};

/// Whether a bound layer keeps the element order of its input (its output, read flat, is its
/// input's elements in the same order, or one value per element as in BatchNorm on a Vector).
template <class L>
constexpr bool keeps_order() {
  return requires {
    requires L::keeps_order;
  };
}

/// The order of L's input read flat, Incoming being the order of the output of the layer before
/// it: Incoming for a Vector, else the input's own.
template <class L, class Incoming>
using input_order = std::conditional_t<is_vector_v<typename L::input_shape>, Incoming,
                                       typename own_order<typename L::input_shape>::type>;

template <class L, class Incoming, TensorOrder R>
constexpr auto output_order_of();
/// The order of L's output read flat, given the order Incoming of its input, in a file of
/// orders R (see output_order_of).
template <class L, class Incoming, TensorOrder R>
using output_order = typename decltype(output_order_of<L, Incoming, R>())::type;

/// The order after parts I to End - 1 of a chained composite's Parts, Incoming before part I.
template <class Parts, std::size_t I, std::size_t End, class Incoming, TensorOrder R>
constexpr auto chained_order_of() {
  if constexpr (I == End)
    return std::type_identity<Incoming>{};
  else
    return chained_order_of<Parts, I + 1, End,
                            output_order<std::tuple_element_t<I, Parts>, Incoming, R>, R>();
}
/// The order of the input of part End of a chain of Parts whose input is in order Incoming.
template <class Parts, std::size_t End, class Incoming, TensorOrder R>
using chained_order = typename decltype(chained_order_of<Parts, 0, End, Incoming, R>())::type;

/// The output orders of the parts of a composite L that all read its input (order Incoming).
template <class L, class Incoming, TensorOrder R, std::size_t... I>
constexpr auto part_orders(std::index_sequence<I...>) {
  return std::tuple<output_order<std::tuple_element_t<I, typename L::parts>, Incoming, R>...>{};
}
template <class L, class Incoming, TensorOrder R>
using part_orders_t =
    decltype(part_orders<L, Incoming, R>(std::make_index_sequence<L::info::count>{}));

/// Whether the composite L joins its parts' outputs end to end (Concat) or adds them (Residual).
template <class L>
inline constexpr bool parts_joined = requires {
  requires L::parts_joined;
};
template <class L>
inline constexpr bool parts_summed = requires {
  requires L::parts_summed;
};

/// Checks that the output orders Os of the parts of a summing composite (Residual) agree: they
/// must, for its sum to add the elements PyTorch's adds. Instantiated for Vector outputs only.
template <class First, class... Os>
struct check_summed_orders {
  static_assert((std::is_same_v<First, Os> && ...),
                "safetensors: Residual's Main and Shortcut give Vectors whose elements are in "
                "different orders relative to PyTorch's (an image flattened by Flatten is "
                "(h, w, c) in ctnn, (c, h, w) in PyTorch), so their sum has no counterpart in "
                "PyTorch's module: flatten images of the same shape on both paths (a Main ending "
                "in Flatten with a Flatten shortcut) or add before flattening (the instantiation "
                "notes show both orders: same_order<N>, N elements in the same order; "
                "image_order<H*W, C>, a flattened image)");
};

/// The order of L's output read flat, given the order Incoming of its input: an Image or a
/// Sequence, its own; a Vector from a layer that keeps the order, its input's; from a Chain,
/// its parts' in turn; from a Concat, its branches' one after the other; from a Residual, its
/// parts' (which must agree: check_summed_orders); from a composite in a file of orders v1, or
/// from any other layer, the same order.
template <class L, class Incoming, TensorOrder R>
constexpr auto output_order_of() {
  using Out = typename L::output_shape;
  if constexpr (!is_vector_v<Out>) {
    return std::type_identity<typename own_order<Out>::type>{};
  } else if constexpr (requires { typename L::parts; }) {
    if constexpr (R == TensorOrder::v1) {
      return std::type_identity<order<same_order<Out::size>>>{};
    } else if constexpr (L::parts_chained) {
      return std::type_identity<
          chained_order<typename L::parts, std::tuple_size_v<typename L::parts>, Incoming, R>>{};
    } else if constexpr (parts_joined<L>) {
      return []<class... Os>(std::type_identity<std::tuple<Os...>>) {
        return std::type_identity<typename join<Os...>::type>{};
      }(std::type_identity<part_orders_t<L, Incoming, R>>{});
    } else if constexpr (parts_summed<L>) {
      return std::type_identity<std::tuple_element_t<0, part_orders_t<L, Incoming, R>>>{};
    } else {
      return std::type_identity<order<same_order<Out::size>>>{};
    }
  } else if constexpr (keeps_order<L>()) {
    return std::type_identity<input_order<L, Incoming>>{};
  } else {
    return std::type_identity<order<same_order<Out::size>>>{};
  }
}

/// The run-time form of an order.
template <std::size_t N>
ElementOrder::Segment segment_of(same_order<N>) {
  return {N, {}};
}
template <std::size_t P, std::size_t C>
ElementOrder::Segment segment_of(image_order<P, C>) {
  return {P * C, {P, 1, C}};
}
template <class... S>
ElementOrder element_order(order<S...>) {
  return {{segment_of(S{})...}};
}

template <class L, class Incoming, TensorOrder R>
void add_layer(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so);

/// The tensors of the parts of a composite L, part I under prefix p + L::part_name(I) + ".", its
/// parameters and state at po and so plus its offsets in the composite; with L::parts_chained
/// each part's input is the previous part's output (Chain), else all take the composite's input.
/// (Orders v1 did not check a Residual's parts: its sum was in the same order.)
template <class L, class Incoming, TensorOrder R>
void add_parts(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so) {
  using Parts = typename L::parts;
  using Info = typename L::info;
  if constexpr (R == TensorOrder::v2 && parts_summed<L> && is_vector_v<typename L::output_shape>) {
    []<class... Os>(std::type_identity<std::tuple<Os...>>) {
      using checked [[maybe_unused]] = decltype(sizeof(check_summed_orders<Os...>));
    }(std::type_identity<part_orders_t<L, Incoming, R>>{});
  }
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (add_layer<std::tuple_element_t<I, Parts>,
               std::conditional_t<L::parts_chained, chained_order<Parts, I, Incoming, R>, Incoming>,
               R>(out, p + L::part_name(I) + ".", po + Info::parameter_offsets[I],
                  so + Info::state_offsets[I]),
     ...);
  }
  (std::make_index_sequence<std::tuple_size_v<Parts>>{});
}

/// The tensors of bound layer L, named prefix `p` + the layer's own names ("3.weight", or
/// "3.main.0.weight" inside a Residual), its parameters at po in parameters() and its state at
/// so in state(); Incoming is the order of the output of the layer before it, R the file's orders.
/// A composite (a layer with `parts`) gives its parts' tensors under its part_name()s; any other
/// layer is asked for its tensors(), with the order of its input read flat.
template <class L, class Incoming, TensorOrder R>
void add_layer(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so) {
  if constexpr (requires { typename L::parts; }) {
    add_parts<L, Incoming, R>(out, p, po, so);
  } else if constexpr (requires(const TensorContext& c) { L::tensors(c); }) {
    for (TensorDesc& d : L::tensors(TensorContext{element_order(input_order<L, Incoming>{})})) {
      TensorMap m;
      m.name = p + d.name;
      m.shape = std::move(d.shape);
      m.offset = d.in_state ? so : po;
      m.index = std::move(d.index);
      m.in_state = d.in_state;
      m.counter = d.counter;
      out.push_back(std::move(m));
    }
  } else {
    static_assert(L::parameter_count == 0 && L::state_count == 0,
                  "safetensors: this layer has parameters or state but no tensors(); declare "
                  "static std::vector<ctnn::TensorDesc> tensors(const ctnn::TensorContext&) (see "
                  "docs/layers.md, \"Adding a layer\")");
  }
}

/// Every tensor of Net's file of orders R, in layer order (the network is a chain of its layers,
/// its input in the same order in both libraries).
template <class Net, TensorOrder R = TensorOrder::v2>
std::vector<TensorMap> tensor_maps() {
  using Layers = typename Net::layers;
  using In = order<same_order<Net::input_shape::size>>;
  std::vector<TensorMap> out;
  std::size_t state_offset = 0;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using L = std::tuple_element_t<I, Layers>;
          add_layer<L, chained_order<Layers, I, In, R>, R>(
              out, std::to_string(I) + ".", Net::template parameter_offset<I>, state_offset);
          state_offset += L::state_count;
        }(),
        ...);
  }
  (std::make_index_sequence<Net::layer_count>{});
  return out;
}

/// A tensor entry of a file's header.
struct Entry {
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

using io::detail::excerpt;

/// A shape as "[d0, d1, ...]"; a file's shape is cut as excerpt() does.
inline std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size() && s.size() <= io::detail::max_quoted; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return excerpt(s + "]");
}

/// The index of element e (row-major) of a tensor of `shape`: "[1, 0, 2, 2]".
inline std::string element_text(std::size_t e, const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = e % shape[d];
    e /= shape[d];
  }
  return shape_text(index);
}

/// Names joined with ", ". With `cut`, names from a file: each is cut as excerpt() does, and
/// the list ends with "... (N in all)" where it would pass max_quoted characters.
inline std::string names_text(const std::vector<std::string>& names, bool cut = false) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (cut && i > 0 && s.size() + names[i].size() > io::detail::max_quoted)
      return s + ", ... (" + std::to_string(names.size()) + " in all)";
    s += (s.empty() ? "" : ", ") + (cut ? excerpt(names[i]) : names[i]);
  }
  return s;
}

/// What a file's header holds: its tensor entries and its __metadata__ (empty without one).
struct Header {
  std::map<std::string, Entry> entries;
  std::map<std::string, std::string> metadata;
};

/// The tensor entries and metadata of the JSON header `text` of the safetensors file `path`,
/// whose data buffer holds `buffer_size` bytes: checks the limits of header_limits (in
/// detail/safetensors_json.hpp: 32 levels, 2^20 values), that no key appears twice in an
/// object, that each entry has its fields and that its data_offsets lie in the buffer, and that
/// __metadata__ is a map of strings. Throws FileError naming `path`, also when memory runs out.
CTNN_JSON_FUNCTION Header header_entries(const std::string& path,
                                         const std::vector<unsigned char>& text,
                                         std::uint64_t buffer_size);

/// The JSON header of a file of the tensors `maps`, stored one after the other in their order,
/// with `signature` and ctnn_tensor_order "2" (TensorOrder::v2) in the metadata (not padded).
CTNN_JSON_FUNCTION std::string header_json(const std::string& signature,
                                           const std::vector<TensorMap>& maps);

/// Reads and checks the header of the safetensors file `f`: its length against the file's size,
/// then the JSON, each entry's fields and that its data_offsets lie in the buffer. Reads only the
/// length and the header. Returns the tensor entries and the metadata; sets data to the offset of
/// the buffer and buffer_size to its length.
inline Header parse_header(const std::string& path, const io::detail::InputFile& f,
                           std::uint64_t& data, std::uint64_t& buffer_size) {
  const std::uint64_t size = f.size();
  if (size < 8)
    throw FileError(path, "truncated: the file has " + std::to_string(size) +
                              " bytes, fewer than the 8-byte header length");
  unsigned char length[8];
  f.read(0, length, 8);
  const auto n = io::detail::get<std::uint64_t>(length);
  if (n > max_header_bytes)
    throw FileError(path, "header length " + std::to_string(n) + " exceeds the limit of " +
                              std::to_string(max_header_bytes) + " bytes");
  if (n > size - 8)
    throw FileError(path, "truncated: header length " + std::to_string(n) +
                              " runs past the end of the file (" + std::to_string(size) +
                              " bytes)");
  data = 8 + n;
  buffer_size = size - data;
  const std::vector<unsigned char> text = f.bytes(8, static_cast<std::size_t>(n), "the header");
  return header_entries(path, text, buffer_size);
}

/// The element orders of the file `path` with `metadata`: its ctnn_tensor_order, "1" or "2";
/// without one, v1 when it has ctnn_signature (saved by ctnn before ctnn_tensor_order existed),
/// else v2 (PyTorch's files). Throws FileError for any other ctnn_tensor_order, naming it.
inline TensorOrder tensor_order(const std::string& path,
                                const std::map<std::string, std::string>& metadata) {
  const auto it = metadata.find("ctnn_tensor_order");
  if (it == metadata.end())
    return metadata.count("ctnn_signature") ? TensorOrder::v1 : TensorOrder::v2;
  if (it->second == "1") return TensorOrder::v1;
  if (it->second == "2") return TensorOrder::v2;
  throw FileError(path, "__metadata__: ctnn_tensor_order '" + excerpt(it->second) +
                            "', expected \"1\" or \"2\" (the element orders this version reads)");
}

/// Checks the file's tensors against the network's: names, dtypes, shapes, sizes and overlap.
inline void check_entries(const std::string& path, const std::map<std::string, Entry>& entries,
                          const std::vector<TensorMap>& maps) {
  std::set<std::string> known;
  std::vector<std::string> missing, unexpected;
  for (const auto& m : maps) {
    known.insert(m.name);
    if (!m.counter && !entries.count(m.name)) missing.push_back(m.name);
  }
  for (const auto& [name, e] : entries)
    if (!known.count(name)) unexpected.push_back(name);
  if (!missing.empty())
    throw FileError(path, "missing tensor" + std::string(missing.size() > 1 ? "s" : "") + ": " +
                              names_text(missing));
  if (!unexpected.empty())
    throw FileError(path, "unexpected tensor" + std::string(unexpected.size() > 1 ? "s" : "") +
                              " for this network: " + names_text(unexpected, true));
  for (const auto& m : maps) {
    const auto it = entries.find(m.name);
    if (it == entries.end()) continue;
    const Entry& e = it->second;
    if (e.dtype != m.dtype())
      throw FileError(path, "tensor '" + m.name + "': dtype " + excerpt(e.dtype) + ", expected " +
                                m.dtype() + (m.counter ? "" : " (the only dtype accepted)"));
    if (e.shape != m.shape)
      throw FileError(path, "tensor '" + m.name + "': shape " + shape_text(e.shape) +
                                " in the file, expected " + shape_text(m.shape));
    if (e.end - e.begin != m.bytes())
      throw FileError(path, "tensor '" + m.name + "': data_offsets [" + std::to_string(e.begin) +
                                ", " + std::to_string(e.end) + "] hold " +
                                std::to_string(e.end - e.begin) + " bytes, its shape and dtype " +
                                "need " + std::to_string(m.bytes()));
  }
  std::vector<std::pair<const std::string*, const Entry*>> by_begin;
  for (const auto& [name, e] : entries)
    if (e.end > e.begin) by_begin.push_back({&name, &e});
  std::sort(by_begin.begin(), by_begin.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (std::size_t i = 1; i < by_begin.size(); ++i) {
    const auto& [pn, pe] = by_begin[i - 1];
    const auto& [cn, ce] = by_begin[i];
    if (ce->begin < pe->end)
      throw FileError(path, "tensors '" + *pn + "' and '" + *cn +
                                "' overlap in the data buffer ([" + std::to_string(pe->begin) +
                                ", " + std::to_string(pe->end) + "] and [" +
                                std::to_string(ce->begin) + ", " + std::to_string(ce->end) + "])");
  }
}

}  // namespace io::safetensors_detail

/// Writes the network's parameters and state to `path` as a safetensors file with PyTorch's
/// names and layouts (see the header comment), so that
/// `model.load_state_dict(safetensors.torch.load_file(path))` works for the matching PyTorch
/// module (keys shifted where the PyTorch model has extra modules, such as nn.Flatten).
/// Atomic like save(): a temporary file in the same directory is written, fsync'ed and renamed
/// over `path`; a new file gets mode 0666 less the umask, a replaced file keeps its mode; only a
/// regular file (or the one a symbolic link leads to) is replaced. Throws FileError on any I/O
/// failure and for a target save() refuses (a directory, device, FIFO, socket, dangling link).
template <class Net>
void save_safetensors(const Net& net, const std::string& path) {
  using namespace io::safetensors_detail;
  const auto maps = tensor_maps<Net>();
  std::string text = header_json(Net::signature(), maps);
  std::uint64_t at = 0;
  for (const auto& m : maps) at += m.bytes();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<unsigned char> bytes;
  bytes.reserve(8 + text.size() + at);
  io::detail::put<std::uint64_t>(bytes, text.size());
  io::detail::append(bytes, text.data(), text.size());
  const auto params = net.parameters();
  const auto state = net.state();
  for (const auto& m : maps) {
    if (m.counter) {
      io::detail::put<std::int64_t>(bytes, 0);
      continue;
    }
    const float* src = (m.in_state ? state.data() : params.data()) + m.offset;
    for (std::size_t e = 0, n = m.elements(); e < n; ++e)
      io::detail::put<float>(bytes, src[m.index(e)]);
  }
  io::detail::write_file_atomically(path, bytes);
}

/// Reads a safetensors file with PyTorch's names and layouts (see the header comment) into
/// `net`: all or nothing, `net` is unchanged when anything is wrong. The file must hold exactly
/// the network's tensors (num_batches_tracked may be absent). Throws FileError, the message
/// naming `path` and the reason, when the file cannot be read or is not a regular file (a
/// directory, a FIFO or a device is refused when opened, without blocking); is shorter than 8
/// bytes; declares a header length over 100 MB or past the end of the file; the header is not a
/// valid JSON object, nests deeper than 32 levels or holds more than 2^20 JSON values
/// (header_limits, which bound the memory it takes; it is parsed in one pass, in time linear in
/// its length), a key appears twice in an object (a tensor name, or a field of an entry or of
/// __metadata__), an entry lacks dtype, shape or data_offsets, or __metadata__ is not a map of
/// strings; memory runs out; data_offsets begin after their end or reach beyond the data buffer;
/// the metadata's ctnn_tensor_order is not "1" or "2"; a tensor is missing (named) or the file
/// has unexpected tensors (named); a dtype is not F32 (I64 for num_batches_tracked); a shape
/// differs (expected and found named); data_offsets do not span shape * dtype size bytes, or two
/// tensors overlap; a value is not finite (NaN or infinite), or one of a running_var tensor
/// (BatchNorm's running variance) is negative: the message names the tensor and the element
/// ("tensor '1.running_var' [3]: element [2] is -0.5; a variance must be >= 0"). Of the metadata
/// only ctnn_tensor_order and ctnn_signature are used: they choose the element order
/// (TensorOrder; a file saved by ctnn 0.1.0 loads as it was saved). Gaps in the buffer are
/// allowed.
template <class Net>
void load_safetensors(Net& net, const std::string& path) {
  using namespace io::safetensors_detail;
  const io::detail::InputFile f(path);
  std::uint64_t data = 0, buffer_size = 0;
  const Header header = parse_header(path, f, data, buffer_size);
  const auto& entries = header.entries;
  const auto maps = tensor_order(path, header.metadata) == TensorOrder::v1
                        ? tensor_maps<Net, TensorOrder::v1>()
                        : tensor_maps<Net>();
  check_entries(path, entries, maps);

  std::vector<float> params(net.parameters().begin(), net.parameters().end());
  std::vector<float> state(net.state().begin(), net.state().end());
  for (const auto& m : maps) {
    if (m.counter) continue;
    // Only the tensors' own bytes are read: gaps and bytes after the last tensor are not.
    const auto src = f.bytes(data + entries.at(m.name).begin, m.bytes(), "tensor '" + m.name + "'");
    float* dst = (m.in_state ? state.data() : params.data()) + m.offset;
    const bool variance = m.in_state && m.name.ends_with(".running_var");
    for (std::size_t e = 0, n = m.elements(); e < n; ++e) {
      const float v = io::detail::get<float>(src.data() + 4 * e);
      if (!io::detail::finite_bits(v) || (variance && v < 0.0f))
        throw FileError(
            path, "tensor '" + m.name + "' " + shape_text(m.shape) + ": element " +
                      element_text(e, m.shape) + " is " + format_float(v) +
                      (variance && io::detail::finite_bits(v) ? "; a variance must be >= 0"
                                                              : "; the values must be finite"));
      dst[m.index(e)] = v;
    }
  }
  std::copy(params.begin(), params.end(), net.parameters().begin());
  std::copy(state.begin(), state.end(), net.state().begin());
}

/// The same functions under ctnn::io, beside the other file formats.
namespace io {
using ::ctnn::load_safetensors;
using ::ctnn::save_safetensors;
}  // namespace io

}  // namespace ctnn

#if CTNN_JSON_DEFINITIONS
#include "detail/safetensors_json.hpp"
#endif
