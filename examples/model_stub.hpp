// The run-time model API the example tools use: ctnn::Model, ctnn::load_any, ctnn::read_metadata,
// ctnn::save with metadata, and the prediction helpers ctnn::softmax, ctnn::top_k,
// ctnn::class_name and ctnn::data::load_image(path, Preprocessing).
//
// When the library provides <ctnn/model.hpp> and <ctnn/predict.hpp>, they are used. Otherwise
// this header defines the subset of them the tools need, with the same spelling; the metadata of
// a model file PATH is then kept beside it, in PATH.metadata.json (the JSON forms of the
// safetensors keys ctnn_class_names and ctnn_preprocessing, see ctnn/metadata.hpp, and "values").
#pragma once

#if __has_include(<ctnn/model.hpp>)
#include <ctnn/model.hpp>
#include <ctnn/predict.hpp>
#else

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctnn/ctnn.hpp>
#include <ctnn/data/image.hpp>
#include <ctnn/io/detail/regular_file.hpp>
#include <ctnn/metadata.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ctnn {

/// The kind and dimensions of a network's input or output: "Image" {H, W, C}, "Sequence"
/// {T, F} or "Vector" {N}.
struct ShapeInfo {
  std::string kind;
  std::vector<std::size_t> dims;
};

namespace stub_detail {

template <class S>
ShapeInfo shape_info() {
  if constexpr (is_image_v<S>)
    return {"Image", {S::height, S::width, S::channels}};
  else if constexpr (is_sequence_v<S>)
    return {"Sequence", {S::steps, S::features}};
  else
    return {"Vector", {S::size}};
}

/// The sidecar file of the model file `path`.
inline std::string metadata_path(const std::string& path) {
  return path + ".metadata.json";
}

/// Reads and writes the sidecar (examples/common.cpp). read: Metadata{} when there is none;
/// throws FileError naming it when it is not a regular file or not valid metadata. write: removes
/// the sidecar for an empty Metadata; throws FileError.
Metadata read_sidecar(const std::string& path);
void write_sidecar(const std::string& path, const Metadata& m);

/// The network signature stored in the model file `path`. Throws FileError naming the file when
/// it cannot be read, is not a ctnn model file or is truncated.
inline std::string file_signature(const std::string& path) {
  io::detail::RegularFile f(path);
  const std::uint64_t n = f.size();
  unsigned char head[16] = {};
  if (n < 16 || f.read_at(0, head, 16) < 16)
    throw FileError(path, "not a ctnn model file (" + std::to_string(n) +
                              " bytes, fewer than a model file's 16-byte header)");
  if (std::memcmp(head, "CTNNMODL", 8) != 0)
    throw FileError(path, "not a ctnn model file (bad magic at offset 0; expected \"CTNNMODL\")");
  std::uint32_t length = 0;
  for (int i = 3; i >= 0; --i) length = length << 8 | head[12 + i];
  if (length > n - 16)
    throw FileError(path, "truncated: the signature needs " + std::to_string(16 + length) +
                              " bytes, the file has " + std::to_string(n));
  std::string sig(length, '\0');
  if (f.read_at(16, sig.data(), length) < length)
    throw FileError(path, "truncated: the signature could not be read");
  return sig;
}

/// A signature on one line: the input shape and the layers' names, joined by " -> " (at most
/// about 600 characters; control characters as '?').
inline std::string brief(const std::string& signature) {
  std::string out;
  std::size_t at = 0;
  while (at < signature.size() && out.size() < 600) {
    std::size_t end = signature.find('\n', at);
    if (end == std::string::npos) end = signature.size();
    const std::string line = signature.substr(at, end - at);
    at = end + 1;
    const std::size_t a = line.find(' ');
    if (a == std::string::npos) continue;
    const std::size_t b = line.find(' ', a + 1);
    std::string part = line.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    for (char& c : part)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    out += (out.empty() ? "" : " -> ") + part;
  }
  if (at < signature.size()) out += " ...";
  return out;
}

}  // namespace stub_detail

class Model;
/// A Model owning `net`, with `metadata`.
template <class Net>
Model make_model(Net net, Metadata metadata = {});

/// A network of any compiled type behind one interface: one virtual call per batch.
class Model {
 public:
  /// Outputs of `batch` samples: `in` holds batch * input size floats in the network's layout;
  /// returns batch * output size floats. Throws InvalidArgument for another input size.
  std::vector<float> predict(std::span<const float> in, std::size_t batch) const {
    return impl_->predict(in, batch);
  }
  std::string signature() const { return impl_->signature(); }
  ShapeInfo input_shape() const { return impl_->input_shape(); }
  ShapeInfo output_shape() const { return impl_->output_shape(); }
  const Metadata& metadata() const { return metadata_; }
  void set_metadata(Metadata m) { metadata_ = std::move(m); }

  template <class Net>
  friend Model make_model(Net net, Metadata metadata);

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual std::vector<float> predict(std::span<const float> in, std::size_t batch) const = 0;
    virtual std::string signature() const = 0;
    virtual ShapeInfo input_shape() const = 0;
    virtual ShapeInfo output_shape() const = 0;
  };
  template <class Net>
  struct Impl final : Concept {
    explicit Impl(Net&& n) : net(std::make_unique<Net>(std::move(n))) {}
    std::vector<float> predict(std::span<const float> in, std::size_t batch) const override {
      constexpr std::size_t I = Net::input_shape::size, O = Net::output_shape::size;
      if (batch == 0 || in.size() != batch * I)
        throw InvalidArgument("Model::predict: " + std::to_string(in.size()) + " inputs for " +
                              std::to_string(batch) + " samples of " + std::to_string(I));
      std::vector<float> out(batch * O);
      Workspace<Net> ws(batch, inference_only);
      net->predict(in.data(), out.data(), batch, ws);
      return out;
    }
    std::string signature() const override { return Net::signature(); }
    ShapeInfo input_shape() const override {
      return stub_detail::shape_info<typename Net::input_shape>();
    }
    ShapeInfo output_shape() const override {
      return stub_detail::shape_info<typename Net::output_shape>();
    }
    std::unique_ptr<Net> net;
  };

  std::shared_ptr<const Concept> impl_;
  Metadata metadata_;
};

template <class Net>
Model make_model(Net net, Metadata metadata) {
  Model m;
  m.impl_ = std::make_shared<Model::Impl<Net> >(std::move(net));
  m.metadata_ = std::move(metadata);
  return m;
}

/// The metadata saved with the model file `path` (Metadata{} when there is none).
inline Metadata read_metadata(const std::string& path) {
  return stub_detail::read_sidecar(path);
}

/// save(net, path) and the metadata.
template <class Net>
void save(const Net& net, const std::string& path, const Metadata& metadata) {
  save(net, path);
  stub_detail::write_sidecar(path, metadata);
}

/// The model file `path` as the one of `Nets` whose signature it holds, with its metadata.
/// Throws SignatureMismatch naming the file's architecture and every one of `Nets` when none
/// matches, and what load() and read_metadata() throw.
template <class... Nets>
Model load_any(const std::string& path) {
  const std::string sig = stub_detail::file_signature(path);
  std::optional<Model> found;
  const auto attempt = [&]<class Net>() {
    if (found || sig != Net::signature()) return;
    auto net = std::make_unique<Net>(uninitialized);
    load(*net, path);
    found = make_model(std::move(*net), read_metadata(path));
  };
  (attempt.template operator()<Nets>(), ...);
  if (found) return *found;
  std::string list;
  ((list += "\n  " + stub_detail::brief(Nets::signature())), ...);
  throw SignatureMismatch(path, "its network is none of the " + std::to_string(sizeof...(Nets)) +
                                    " compiled in: it is\n  " + stub_detail::brief(sig) +
                                    "\nand those compiled in are" + list);
}

/// Softmax probabilities of `logits` (shifted by the largest logit, so exp cannot overflow).
inline std::vector<float> softmax(std::span<const float> logits) {
  std::vector<float> p(logits.size());
  if (p.empty()) return p;
  const float m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(logits[i] - m);
  for (float& v : p) v = float(v / sum);
  return p;
}

struct Scored {
  std::size_t index;
  float score;
};

/// The k highest scores, highest first, ties in index order.
inline std::vector<Scored> top_k(std::span<const float> scores, std::size_t k) {
  std::vector<Scored> all(scores.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = {i, scores[i]};
  k = std::min(k, all.size());
  std::stable_sort(all.begin(), all.end(),
                   [](const Scored& a, const Scored& b) { return a.score > b.score; });
  all.resize(k);
  return all;
}

/// The name of class i, or its number when the metadata does not name it.
inline std::string class_name(const Metadata& m, std::size_t i) {
  return i < m.class_names.size() ? m.class_names[i] : std::to_string(i);
}

namespace data {

/// An image file as the network of `p` takes it (data::load_image with p's size and options).
/// Sizes 28, 32 and 64, square, 1 or 3 channels. Throws InvalidArgument for another size.
inline std::vector<float> load_image(const std::string& path, const Preprocessing& p) {
  ImageOptions o;
  o.scale = p.scale, o.mean = p.mean, o.std = p.std, o.invert = p.invert;
  std::vector<float> out;
  bool done = false;
  const auto at = [&]<std::size_t S, std::size_t C>() {
    if (!done && p.height == S && p.width == S && p.channels == C)
      out = load_image<Image<S, S, C> >(path, o), done = true;
  };
  at.template operator()<28, 1>(), at.template operator()<28, 3>();
  at.template operator()<32, 1>(), at.template operator()<32, 3>();
  at.template operator()<64, 1>(), at.template operator()<64, 3>();
  if (!done)
    throw InvalidArgument("load_image: images of " + std::to_string(p.height) + " x " +
                          std::to_string(p.width) + " x " + std::to_string(p.channels) +
                          " are not supported");
  return out;
}

}  // namespace data

}  // namespace ctnn

#endif
