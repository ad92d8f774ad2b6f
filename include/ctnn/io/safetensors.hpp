// ctnn/io/safetensors.hpp — save_safetensors() and load_safetensors(): a network's parameters as
// a PyTorch state_dict in a safetensors file, for exchanging weights with PyTorch.
//
// File format (https://github.com/huggingface/safetensors, "Format"): a u64 little-endian header
// length N, N bytes of JSON, then the data buffer. The JSON maps each tensor name to
//   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
// (byte offsets relative to the start of the buffer, data row-major and little-endian) and may
// hold "__metadata__": {string: string}. Saved files carry the metadata
//   {"format": "pt", "ctnn_signature": Net::signature()}
// and pad the header with spaces so that the buffer starts at a multiple of 8 bytes. Loading
// ignores the metadata: tensor names and shapes identify the parameters.
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
// same way. Recurrent layers that read an Image take its rows as steps of W*C features with
// channels innermost; the PyTorch model must feed them x.permute(0, 2, 3, 1).reshape(B, H, W*C).
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
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../layers/recurrent.hpp"
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

/// Whether a bound layer keeps the element order of its input (its output, read flat, is its
/// input's elements in the same order, or one value per element as in BatchNorm on a Vector).
template <class L>
constexpr bool keeps_order() {
  return requires {
    requires L::keeps_order;
  };
}

/// The image whose channels-last flattening the input of L is, given `incoming` (that of the
/// output of the layer before it): L's own input when it is an Image, else `incoming`.
template <class L>
constexpr FlatImage flat_input(FlatImage incoming) {
  using In = typename L::input_shape;
  if constexpr (is_image_v<In>)
    return {In::height, In::width, In::channels};
  else if constexpr (is_vector_v<In>)
    return incoming;
  else
    return {};
}

/// The same for L's output: what L's input was when L keeps the order and gives a Vector.
template <class L>
constexpr FlatImage flat_output(FlatImage incoming) {
  if constexpr (keeps_order<L>() && is_vector_v<typename L::output_shape>)
    return flat_input<L>(incoming);
  else
    return {};
}

template <class L>
void add_layer(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so,
               FlatImage incoming);

/// The tensors of the parts of a composite L, part I under prefix p + L::part_name(I) + ".", its
/// parameters and state at po and so plus its offsets in the composite; with L::parts_chained
/// each part's input is the previous part's output (Chain), else all take the composite's input.
template <class L>
void add_parts(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so,
               FlatImage incoming) {
  using Parts = typename L::parts;
  using Info = typename L::info;
  constexpr bool chained = L::parts_chained;
  FlatImage flat = incoming;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using Part = std::tuple_element_t<I, Parts>;
          add_layer<Part>(out, p + L::part_name(I) + ".", po + Info::parameter_offsets[I],
                          so + Info::state_offsets[I], chained ? flat : incoming);
          if constexpr (chained) flat = flat_output<Part>(flat);
        }(),
        ...);
  }
  (std::make_index_sequence<std::tuple_size_v<Parts>>{});
}

/// The tensors of bound layer L, named prefix `p` + the layer's own names ("3.weight", or
/// "3.main.0.weight" inside a Residual), its parameters at po in parameters() and its state at
/// so in state(); `incoming` is the image whose flattening its input is, if any. A composite
/// (a layer with `parts`) gives its parts' tensors under its part_name()s; any other layer is
/// asked for its tensors().
template <class L>
void add_layer(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so,
               FlatImage incoming) {
  if constexpr (requires { typename L::parts; }) {
    add_parts<L>(out, p, po, so, incoming);
  } else if constexpr (requires(const TensorContext& c) { L::tensors(c); }) {
    for (TensorDesc& d : L::tensors(TensorContext{flat_input<L>(incoming)})) {
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

/// Every tensor of Net's file, in layer order.
template <class Net>
std::vector<TensorMap> tensor_maps() {
  std::vector<TensorMap> out;
  std::size_t state_offset = 0;
  FlatImage flat{};
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using L = typename Net::template layer<I>;
          add_layer<L>(out, std::to_string(I) + ".", Net::template parameter_offset<I>,
                       state_offset, flat);
          flat = flat_output<L>(flat);
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

/// The tensor entries of the JSON header `text` of the safetensors file `path`, whose data
/// buffer holds `buffer_size` bytes: checks that no key appears twice in an object, that each
/// entry has its fields and that its data_offsets lie in the buffer. Throws FileError naming
/// `path`.
CTNN_JSON_FUNCTION std::map<std::string, Entry> header_entries(
    const std::string& path, const std::vector<unsigned char>& text, std::uint64_t buffer_size);

/// The JSON header of a file of the tensors `maps`, stored one after the other in their order,
/// with `signature` in the metadata (not padded).
CTNN_JSON_FUNCTION std::string header_json(const std::string& signature,
                                           const std::vector<TensorMap>& maps);

/// Reads and checks the header of the safetensors file `f`: its length against the file's size,
/// then the JSON, each entry's fields and that its data_offsets lie in the buffer. Reads only the
/// length and the header. Returns the tensor entries; sets data to the offset of the buffer and
/// buffer_size to its length.
inline std::map<std::string, Entry> parse_header(const std::string& path,
                                                 const io::detail::InputFile& f,
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
/// over `path`; a new file gets mode 0666 less the umask, a replaced file keeps its mode. Throws
/// FileError on any I/O failure.
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

/// Reads a safetensors file with PyTorch's names and layouts (see the header comment) into `net`:
/// all or nothing, `net` is unchanged when anything is wrong. The file must hold exactly the
/// network's tensors (num_batches_tracked may be absent). Throws FileError, the message naming
/// `path` and the reason, when the file cannot be read or is not a regular file (a directory, a
/// FIFO or a device is refused when opened, without blocking); is shorter than 8 bytes; declares a
/// header length over 100 MB or past the end of the file; the header is not a valid JSON object, a
/// key appears twice in an object (a tensor name, or a field of an entry or of __metadata__), an
/// entry lacks dtype, shape or data_offsets, or __metadata__ is not a map of strings; a tensor is
/// missing (named) or the file has unexpected tensors (named); a dtype is not F32 (I64 for
/// num_batches_tracked); a shape differs (expected and found named); data_offsets begin after their
/// end, reach beyond the data buffer, do not span shape * dtype size bytes, or two tensors overlap.
/// The metadata's values are not used; gaps in the buffer are allowed.
template <class Net>
void load_safetensors(Net& net, const std::string& path) {
  using namespace io::safetensors_detail;
  const io::detail::InputFile f(path);
  std::uint64_t data = 0, buffer_size = 0;
  const auto entries = parse_header(path, f, data, buffer_size);
  const auto maps = tensor_maps<Net>();
  check_entries(path, entries, maps);

  std::vector<float> params(net.parameters().begin(), net.parameters().end());
  std::vector<float> state(net.state().begin(), net.state().end());
  for (const auto& m : maps) {
    if (m.counter) continue;
    // Only the tensors' own bytes are read: gaps and bytes after the last tensor are not.
    const auto src = f.bytes(data + entries.at(m.name).begin, m.bytes(), "tensor '" + m.name + "'");
    float* dst = (m.in_state ? state.data() : params.data()) + m.offset;
    for (std::size_t e = 0, n = m.elements(); e < n; ++e)
      dst[m.index(e)] = io::detail::get<float>(src.data() + 4 * e);
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
