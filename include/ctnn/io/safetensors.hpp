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

#include "../attributes.hpp"
#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../metadata.hpp"
#include "../shape.hpp"
#include "detail/json_linkage.hpp"
#include "detail/metadata_io.hpp"
#include "detail/safetensors_order.hpp"
#include "model_file.hpp"

namespace ctnn {

namespace io::safetensors_detail {

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
/// with `signature` and ctnn_tensor_order "2" (TensorOrder::v2) in the metadata, and the
/// entries `extra` (metadata_entries(): class names, preprocessing, free-form values) after
/// them (not padded).
CTNN_JSON_FUNCTION std::string header_json(const std::string& signature,
                                           const std::vector<TensorMap>& maps,
                                           const std::map<std::string, std::string>& extra = {});

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
///
/// The header's __metadata__ also holds `metadata` (metadata.hpp: "ctnn_class_names",
/// "ctnn_preprocessing", each free-form value under its own key; read_metadata() gives it back).
/// Throws InvalidArgument, before anything is written, when it cannot be stored or does not fit
/// the network, as save() does.
template <class Net>
CTNN_COLD void save_safetensors(const Net& net, const std::string& path,
                                const Metadata& metadata = {}) {
  using namespace io::safetensors_detail;
  if (const std::string why = io::detail::metadata_fit_problem<Net>(metadata); !why.empty())
    throw InvalidArgument("save_safetensors: the metadata does not fit the network: " + why);
  const auto maps = tensor_maps<Net>();
  std::string text = header_json(Net::signature(), maps,
                                 metadata.empty() ? std::map<std::string, std::string>()
                                                  : io::detail::metadata_entries(metadata));
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
CTNN_COLD void load_safetensors(Net& net, const std::string& path) {
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

namespace io::detail {

/// What a model file or a safetensors file says of itself.
struct FileDescription {
  enum class Kind { model_file, safetensors } kind = Kind::model_file;
  std::uint32_t version = 0;  ///< a model file's format version; 0 for safetensors
  /// Net::signature() of the network the file was written for; empty for a safetensors file
  /// without "ctnn_signature" (one written by PyTorch).
  std::string signature;
  Metadata metadata;
};

/// Reads what the file `path` says of itself: a model file (magic "CTNNMODL") through
/// read_model_info(), anything else as a safetensors file (its header only). Throws FileError
/// naming `path` when it cannot be read or is not a regular file, is a checkpoint, or is neither
/// a valid model file nor a valid safetensors file (the message gives the reason, and for a file
/// that is not a model file says so), or its metadata is refused (metadata_from_json(),
/// metadata_from_entries()).
inline FileDescription describe_file(const std::string& path) {
  const InputFile f(path);
  unsigned char head[8] = {};
  if (f.size() >= 8) f.read(0, head, 8);
  FileDescription d;
  if (std::memcmp(head, magic, 8) == 0) {
    ModelFileInfo info = read_model_info(f, path);
    d.version = info.version;
    d.signature = std::move(info.signature);
    d.metadata = std::move(info.metadata);
    return d;
  }
  if (std::memcmp(head, "CTNNCKPT", 8) == 0)
    throw FileError(path,
                    "a checkpoint, not a model file (load_checkpoint() reads it; save() writes "
                    "the model file of its network)");
  d.kind = FileDescription::Kind::safetensors;
  safetensors_detail::Header header;
  try {
    std::uint64_t data = 0, buffer_size = 0;
    header = safetensors_detail::parse_header(path, f, data, buffer_size);
  } catch (const FileError& e) {
    std::string why = e.what();
    if (why.starts_with(path + ": ")) why.erase(0, path.size() + 2);
    throw FileError(path,
                    "neither a ctnn model file (no \"CTNNMODL\" at offset 0) nor a "
                    "safetensors file: " +
                        why);
  }
  if (const auto it = header.metadata.find("ctnn_signature"); it != header.metadata.end())
    d.signature = it->second;
  d.metadata = metadata_from_entries(path, header.metadata);
  return d;
}

}  // namespace io::detail

/// The metadata (class names, preprocessing, free-form values) of the model file or safetensors
/// file `path`, as save() or save_safetensors() stored it. A model file of format 1 to 3, or a
/// safetensors file without ctnn's keys (one PyTorch wrote), gives an empty Metadata. A model
/// file is read whole and its CRC-32 checked; of a safetensors file only the header is read.
/// Throws FileError naming `path` as io::detail::describe_file() says: the file cannot be read,
/// is not a regular file (a FIFO or a directory is refused at once), is truncated, damaged or
/// neither kind of file, or its metadata is malformed (not JSON, not UTF-8, a member of the wrong
/// type, more than 1 MiB, a class name empty or with a control character, channels other than 1
/// or 3, a scale, mean or std that is not finite, a std that is not positive).
CTNN_COLD inline Metadata read_metadata(const std::string& path) {
  return io::detail::describe_file(path).metadata;
}

/// The same functions under ctnn::io, beside the other file formats.
namespace io {
using ::ctnn::load_safetensors;
using ::ctnn::read_metadata;
using ::ctnn::save_safetensors;
}  // namespace io

}  // namespace ctnn

#if CTNN_JSON_DEFINITIONS
#include "detail/safetensors_json.hpp"
#endif
