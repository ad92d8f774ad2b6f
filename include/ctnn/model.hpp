// ctnn/model.hpp — ctnn::Model, a network chosen at run time: one handle type over any compiled
// Sequential, and load_any(), which picks among compiled-in network types the one a file was
// written for.
//
//   using Small = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Dense<10>>;
//   ctnn::Model m = ctnn::load_any<ctnn::zoo::FashionCnn, ctnn::zoo::FashionLstm, Small>(path);
//   std::vector<float> logits = m.predict(images, batch);  // batch x m.output_shape().size()
//
// The network's type is erased behind one virtual call per predict() (per evaluate(), ...): the
// call runs the network's own predict() on the whole batch, so the layers inside are the
// compiled network's, inlined and fused as ever, and the outputs are bit for bit the network's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "attributes.hpp"
#include "data/dataset.hpp"
#include "error.hpp"
#include "io/model_file.hpp"
#include "io/safetensors.hpp"
#include "metadata.hpp"
#include "network.hpp"
#include "reports.hpp"
#include "shape.hpp"
#include "summary.hpp"
#include "train/evaluate.hpp"

namespace ctnn {

/// The shape of one sample, known at run time: kind image {H, W, C} (channels-last), sequence
/// {T, F} or vector {N}; the values of a sample are dims' product, row-major.
struct ShapeInfo {
  enum class Kind { image, sequence, vector };
  Kind kind = Kind::vector;
  std::vector<std::size_t> dims;

  /// Floats per sample.
  std::size_t size() const {
    std::size_t n = 1;
    for (std::size_t d : dims) n *= d;
    return n;
  }
  /// "Image<28,28,1>", "Sequence<28,28>", "Vector<10>", as the compile-time shapes name themselves.
  std::string name() const {
    std::string s = kind == Kind::image ? "Image" : kind == Kind::sequence ? "Sequence" : "Vector";
    for (std::size_t i = 0; i < dims.size(); ++i) {
      s += i ? ',' : '<';
      s += std::to_string(dims[i]);
    }
    s += '>';
    return s;
  }
  friend bool operator==(const ShapeInfo&, const ShapeInfo&) = default;
};

/// The ShapeInfo of the compile-time shape S (shape.hpp).
template <class S>
ShapeInfo shape_info() {
  if constexpr (is_image_v<S>)
    return {ShapeInfo::Kind::image, {S::height, S::width, S::channels}};
  else if constexpr (is_sequence_v<S>)
    return {ShapeInfo::Kind::sequence, {S::steps, S::features}};
  else
    return {ShapeInfo::Kind::vector, {S::size}};
}

namespace detail {

/// What Model asks of the network it holds: one virtual function per Model operation.
class ModelBase {
 public:
  virtual ~ModelBase() = default;
  virtual std::unique_ptr<ModelBase> clone() const = 0;
  virtual void predict(const float* in, float* out, std::size_t batch) = 0;
  virtual Evaluation evaluate(const data::Dataset& d, std::size_t threads) const = 0;
  virtual std::string summary() const = 0;
  virtual void save(const std::string& path, const Metadata& m) const = 0;
  virtual std::string signature() const = 0;
  virtual ShapeInfo input_shape() const = 0;
  virtual ShapeInfo output_shape() const = 0;
  virtual std::size_t parameter_count() const = 0;
  virtual std::string fit_problem(const Metadata& m) const = 0;
  virtual const void* network(const std::type_info& type) const = 0;
};

/// ModelBase over a Net held by value, with an inference workspace reused by predict().
template <class Net>
class ModelOf final : public ModelBase {
 public:
  /// Samples per forward call of predict(): bounds the workspace and keeps activations in cache.
  static constexpr std::size_t chunk = 64;

  explicit ModelOf(Net net) : net_(std::move(net)) {}
  ModelOf(const ModelOf& o) : ModelBase(), net_(o.net_) {}  // a workspace of its own, later

  CTNN_COLD std::unique_ptr<ModelBase> clone() const override {
    return std::make_unique<ModelOf>(*this);
  }
  void predict(const float* in, float* out, std::size_t batch) override {
    const std::size_t need = std::min(batch, chunk);
    if (!ws_ || ws_->capacity() < need) {
      ws_.reset();
      ws_ = std::make_unique<Workspace<Net>>(need, inference_only);
    }
    for (std::size_t i = 0; i < batch; i += chunk)
      net_.predict(in + i * Net::input_shape::size, out + i * Net::output_shape::size,
                   std::min(chunk, batch - i), *ws_);
  }
  Evaluation evaluate(const data::Dataset& d, std::size_t threads) const override {
    return ctnn::evaluate(net_, d, threads);
  }
  CTNN_COLD std::string summary() const override {
    std::ostringstream os;
    ctnn::summary<Net>(os);
    return os.str();
  }
  CTNN_COLD void save(const std::string& path, const Metadata& m) const override {
    ctnn::save(net_, path, m);
  }
  std::string signature() const override { return Net::signature(); }
  ShapeInfo input_shape() const override { return shape_info<typename Net::input_shape>(); }
  ShapeInfo output_shape() const override { return shape_info<typename Net::output_shape>(); }
  std::size_t parameter_count() const override { return Net::parameter_count; }
  CTNN_COLD std::string fit_problem(const Metadata& m) const override {
    if (std::string why = io::detail::metadata_problem(m); !why.empty()) return why;
    return io::detail::metadata_fit_problem<Net>(m);
  }
  const void* network(const std::type_info& type) const override {
    return type == typeid(Net) ? &net_ : nullptr;
  }

 private:
  Net net_;
  std::unique_ptr<Workspace<Net>> ws_;
};

}  // namespace detail

/// A network of any compiled type (a Sequential), with the metadata of its file, behind one
/// type. Made by make_model() from a network, or by load_any() from a file.
///
/// Copying a Model copies the network (parameters and state; the copy gets its own workspace):
/// the two are independent. Moving leaves the source empty: any call on it but assignment and
/// destruction throws InvalidArgument.
///
/// Thread safety: predict() reuses one inference workspace per Model, so it is not const and a
/// Model serves one predict() at a time; the const functions may run concurrently with each
/// other. For several threads give each a copy (the copies share nothing), or use the network
/// itself (network<Net>()) with a Workspace or a Predictor (inference.hpp) per thread.
class Model {
 public:
  /// Use make_model() or load_any().
  explicit Model(std::unique_ptr<detail::ModelBase> impl, Metadata metadata = {})
      : impl_(std::move(impl)) {
    set_metadata(std::move(metadata));
  }
  Model(const Model& o) : impl_(o.self().clone()), metadata_(o.metadata_) {}
  Model(Model&&) noexcept = default;
  Model& operator=(const Model& o) {
    if (this != &o) *this = Model(o);
    return *this;
  }
  Model& operator=(Model&&) noexcept = default;

  /// Outputs of `batch` samples, inference mode: `in` holds batch x input_shape().size() floats
  /// in the network's input layout (an image channels-last, (h, w, c); a sequence step by step);
  /// returns batch x output_shape().size() floats, sample after sample, bit for bit what the
  /// network's own predict() gives. Runs the network on chunks of at most 64 samples in a
  /// workspace kept for the next call (allocated on the first call, and again when a larger
  /// chunk is needed). Throws InvalidArgument when batch is 0 or in.size() is not batch x the
  /// input size.
  std::vector<float> predict(std::span<const float> in, std::size_t batch) {
    std::vector<float> out(batch * self().output_shape().size());
    predict(in, out, batch);
    return out;
  }
  /// As above, into `out` (batch x output_shape().size() floats, else InvalidArgument); allocates
  /// nothing once the workspace is large enough.
  void predict(std::span<const float> in, std::span<float> out, std::size_t batch) {
    detail::ModelBase& m = self();
    const std::size_t n_in = m.input_shape().size(), n_out = m.output_shape().size();
    if (batch == 0) throw InvalidArgument("Model::predict: a batch of 0 samples");
    if (in.size() / n_in != batch || in.size() % n_in != 0)
      throw InvalidArgument("Model::predict: " + std::to_string(in.size()) + " input floats for " +
                            std::to_string(batch) + " samples of " + m.input_shape().name() + " (" +
                            std::to_string(n_in) + " floats each)");
    if (out.size() / n_out != batch || out.size() % n_out != 0)
      throw InvalidArgument("Model::predict: room for " + std::to_string(out.size()) +
                            " output floats; " + std::to_string(batch) + " samples of " +
                            m.output_shape().name() + " need " + std::to_string(batch * n_out));
    m.predict(in.data(), out.data(), batch);
  }

  /// Loss (softmax cross-entropy), accuracy and confusion matrix on `data`, as ctnn::evaluate()
  /// (train/evaluate.hpp) gives them for the network, with `threads` threads (0: all). Throws
  /// InvalidArgument when the data does not fit the network.
  Evaluation evaluate(const data::Dataset& data, std::size_t threads = 0) const {
    return self().evaluate(data, threads);
  }
  /// The table of ctnn::summary<Net>() (summary.hpp).
  std::string summary() const { return self().summary(); }
  /// Writes a model file (format 4) of the network with metadata(), as ctnn::save() does.
  void save(const std::string& path) const { self().save(path, metadata_); }
  /// Net::signature(): one line per layer, as model files store it.
  std::string signature() const { return self().signature(); }
  ShapeInfo input_shape() const { return self().input_shape(); }
  ShapeInfo output_shape() const { return self().output_shape(); }
  std::size_t parameter_count() const { return self().parameter_count(); }

  /// The class names, preprocessing and free-form values (of the file it was loaded from).
  const Metadata& metadata() const noexcept { return metadata_; }
  /// Replaces the metadata. Throws InvalidArgument, leaving it unchanged, when save() would
  /// refuse it: it cannot be stored, or does not fit the network (class names not one per
  /// output class, a preprocessing whose size and channels are not the input's).
  void set_metadata(Metadata m) {
    if (const std::string why = self().fit_problem(m); !why.empty())
      throw InvalidArgument("Model: the metadata does not fit the network: " + why);
    metadata_ = std::move(m);
  }

  /// The network, when it is of type Net; else nullptr.
  template <class Net>
  const Net* network() const {
    return static_cast<const Net*>(self().network(typeid(Net)));
  }

 private:
  detail::ModelBase& self() const {
    if (!impl_) throw InvalidArgument("ctnn::Model: used after it was moved from");
    return *impl_;
  }

  std::unique_ptr<detail::ModelBase> impl_;
  Metadata metadata_;
};

/// A Model of `net` (moved in) with `metadata`. Throws InvalidArgument as
/// Model::set_metadata() does.
template <class Net>
Model make_model(Net net, Metadata metadata = {}) {
  return Model(std::make_unique<detail::ModelOf<Net>>(std::move(net)), std::move(metadata));
}

namespace detail {

/// A file's signature as an error message shows it: at most 40 lines, each cut as
/// io::detail::excerpt() does, control characters shown as '?', each line indented.
inline std::string quoted_signature(std::string_view sig) {
  std::string out;
  std::size_t lines = 0;
  while (!sig.empty()) {
    const std::size_t end = sig.find('\n');
    std::string line = io::detail::excerpt(sig.substr(0, end));
    for (char& c : line)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    if (++lines > 40) return out + "    ... (more lines)\n";
    out += "    " + line + "\n";
    if (end == std::string_view::npos) break;
    sig.remove_prefix(end + 1);
  }
  return out;
}

/// Loads the file `path` described by `d` into a Model of Net.
template <class Net>
CTNN_COLD Model load_model(const std::string& path, const io::detail::FileDescription& d) {
  Net net(uninitialized);
  if (d.kind == io::detail::FileDescription::Kind::model_file) {
    load(net, path);
  } else {
    load_safetensors(net, path);
    if (const std::string why = io::detail::metadata_fit_problem<Net>(d.metadata); !why.empty())
      throw FileError(path, "the metadata does not fit the network: " + why);
  }
  return make_model(std::move(net), d.metadata);
}

}  // namespace detail

/// The network a file was written for, among the types Nets, loaded, with the file's metadata.
/// The file is a model file (save()) or a safetensors file ctnn wrote (save_safetensors(), whose
/// "ctnn_signature" names its network); its signature (Net::signature()) is compared with each
/// of Nets' in turn, and the first that is equal is loaded (load() or load_safetensors()). Throws
/// FileError naming `path`:
///   - when no type matches: the message shows the file's architecture (its signature, up to 40
///     lines) and, for each of Nets, its input and where it first differs from the file's;
///   - for a safetensors file without "ctnn_signature" (one PyTorch wrote): its network is not
///     known (load_safetensors() into the type it was written for reads it);
///   - as read_metadata() and load() do: the file cannot be read, is not a regular file (a FIFO
///     or a directory is refused at once), is truncated or damaged, is not a model file or a
///     safetensors file, or its metadata is malformed or does not fit the network.
template <class... Nets>
CTNN_COLD Model load_any(const std::string& path) {
  static_assert(sizeof...(Nets) > 0, "load_any: name the network types to choose from");
  const io::detail::FileDescription d = io::detail::describe_file(path);
  if (d.signature.empty())
    throw FileError(path,
                    "a safetensors file without ctnn_signature (as PyTorch writes them): which "
                    "network it holds is not recorded; load it with load_safetensors() into the "
                    "network type it was written for");
  std::unique_ptr<Model> found;
  const auto attempt = [&]<class Net>() {
    if (!found && d.signature == Net::signature())
      found = std::make_unique<Model>(detail::load_model<Net>(path, d));
  };
  (attempt.template operator()<Nets>(), ...);
  if (found) return std::move(*found);
  std::string why = "its network is none of the " + std::to_string(sizeof...(Nets)) +
                    " this program can load.\n  The file's network:\n" +
                    detail::quoted_signature(d.signature) + "  The program's:\n";
  std::size_t k = 0;
  const auto describe = [&]<class Net>() {
    why += "    " + std::to_string(++k) + ". " + Net::input_shape::name() + " -> " +
           Net::output_shape::name() + ", " + std::to_string(Net::layer_count) +
           " layers: " + io::detail::first_difference(d.signature, Net::signature()) + "\n";
  };
  (describe.template operator()<Nets>(), ...);
  why.pop_back();
  throw FileError(path, why);
}

}  // namespace ctnn
