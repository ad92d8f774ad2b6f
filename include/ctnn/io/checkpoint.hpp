// ctnn/io/checkpoint.hpp — save_checkpoint() and load_checkpoint(): everything training needs to
// go on exactly where it stopped.
//
// A checkpoint holds the network (a whole model file image, as save() writes it), the
// optimizer's state (hyper-parameters, step count, epochs done, moment buffers; see
// optim/state.hpp), the training settings that decide the random streams (seed, batch size,
// threads), named values of schedules and callbacks (ReduceLROnPlateau, EarlyStopping, ...), and
// the history of epoch reports. fit() draws every random number (shuffle, Dropout masks,
// augmentation) from generators seeded by the seed and the epoch or step number, so no generator
// state needs saving: resuming with the same seed, batch size and threads gives the same bits as
// never stopping. The byte layout is in docs/model-format.md ("Checkpoints").
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../optim/state.hpp"
#include "../train.hpp"
#include "model_file.hpp"

namespace ctnn {

/// What a checkpoint holds besides the network and the optimizer.
struct TrainingState {
  std::uint64_t seed = 1;      ///< FitOptions::seed
  std::size_t batch_size = 0;  ///< FitOptions::batch_size
  std::size_t threads = 0;     ///< the number of training threads
  /// State of schedules and callbacks by name, e.g. "plateau.best" (NaN and infinities kept).
  std::map<std::string, double> values;
  /// The reports of the epochs trained so far.
  std::vector<EpochReport> history;
};

namespace io::detail {

inline constexpr char checkpoint_magic[8] = {'C', 'T', 'N', 'N', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t checkpoint_version = 1;
/// The largest JSON block a reader accepts (a history of a million epochs fits).
inline constexpr std::uint64_t max_checkpoint_json = std::uint64_t{1} << 28;

/// JSON has no NaN or infinity: those are written as the strings "nan", "inf" and "-inf".
inline nlohmann::json number_to_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

inline nlohmann::json report_to_json(const EpochReport& r) {
  return {{"epoch", r.epoch},
          {"learning_rate", number_to_json(r.learning_rate)},
          {"loss", number_to_json(r.loss)},
          {"train_accuracy", number_to_json(r.train_accuracy)},
          {"test_loss", number_to_json(r.test_loss)},
          {"test_accuracy", number_to_json(r.test_accuracy)},
          {"seconds", number_to_json(r.seconds)},
          {"images_per_second", number_to_json(r.images_per_second)}};
}

/// Reads the JSON block of a checkpoint; every malformed part throws FileError naming `path`.
class CheckpointJson {
 public:
  CheckpointJson(const std::string& path) : path_(path) {}

  [[noreturn]] void corrupt(const std::string& what) const {
    throw FileError(path_, "corrupt checkpoint: " + what);
  }
  const nlohmann::json& member(const nlohmann::json& j, const char* key, const char* in) const {
    if (!j.is_object() || !j.contains(key))
      corrupt(std::string("the training state lacks ") + in + key);
    return j.at(key);
  }
  double number(const nlohmann::json& j, const std::string& what) const {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
      const auto s = j.get<std::string>();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
    }
    corrupt(what + " is not a number");
  }
  std::uint64_t count(const nlohmann::json& j, const std::string& what) const {
    if (!j.is_number_unsigned()) corrupt(what + " is not a whole number >= 0");
    return j.get<std::uint64_t>();
  }
  std::string text(const nlohmann::json& j, const std::string& what) const {
    if (!j.is_string()) corrupt(what + " is not a string");
    return j.get<std::string>();
  }

 private:
  std::string path_;
};

}  // namespace io::detail

/// Writes a checkpoint of `net`, `optimizer` (its state(): see optim/state.hpp) and `training`
/// to `path`, atomically as save() writes (a complete file or the previous one, never half of
/// one; a new file gets mode 0666 less the umask, a replaced one keeps its mode). Throws
/// FileError on any I/O failure.
template <class Net, class Optimizer>
void save_checkpoint(const std::string& path, const Net& net, const Optimizer& optimizer,
                     const TrainingState& training) {
  using namespace io::detail;
  const OptimizerState os = optimizer.state();
  nlohmann::json j;
  j["format"] = "ctnn checkpoint";
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [k, v] : os.settings) settings[k] = number_to_json(v);
  nlohmann::json buffers = nlohmann::json::array();
  for (const auto& [name, b] : os.buffers) buffers.push_back({{"name", name}, {"size", b.size()}});
  j["optimizer"] = {{"type", os.type},
                    {"settings", settings},
                    {"steps", os.steps},
                    {"epochs_done", os.epochs_done},
                    {"buffers", buffers}};
  j["training"] = {
      {"seed", training.seed}, {"batch_size", training.batch_size}, {"threads", training.threads}};
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [k, v] : training.values) values[k] = number_to_json(v);
  j["values"] = values;
  nlohmann::json history = nlohmann::json::array();
  for (const EpochReport& r : training.history) history.push_back(report_to_json(r));
  j["history"] = history;
  const std::string text = j.dump(1);

  const std::vector<unsigned char> model = model_image(net);
  std::size_t floats = 0;
  for (const auto& [name, b] : os.buffers) floats += b.size();
  std::vector<unsigned char> bytes;
  bytes.reserve(32 + model.size() + text.size() + 4 * floats);
  append(bytes, checkpoint_magic, 8);
  put<std::uint32_t>(bytes, checkpoint_version);
  put<std::uint64_t>(bytes, model.size());
  append(bytes, model.data(), model.size());
  put<std::uint64_t>(bytes, text.size());
  append(bytes, text.data(), text.size());
  for (const auto& [name, b] : os.buffers)
    for (float v : b) put<float>(bytes, v);
  put<std::uint32_t>(bytes, crc32_of(bytes.data(), bytes.size()));
  write_file_atomically(path, bytes);
}

/// Reads a checkpoint written by save_checkpoint() into `net` and `optimizer` (its restore(),
/// which also sets its hyper-parameters, as PyTorch's load_state_dict) and returns the training
/// state. All or nothing: on any error `net` and `optimizer` are unchanged. Throws
/// SignatureMismatch when the checkpoint holds another network type (naming the first
/// differing layer); FileError when the file cannot be read, is not a checkpoint, has another
/// version, is truncated or longer than it says, is malformed, or fails its CRC-32;
/// InvalidArgument when it holds another optimizer's state (say AdamW's for an Adam) or
/// buffers that do not fit the network.
template <class Net, class Optimizer>
TrainingState load_checkpoint(const std::string& path, Net& net, Optimizer& optimizer) {
  using namespace io::detail;
  const InputFile f(path);
  const std::uint64_t n = f.size();
  auto need = [&](std::uint64_t end, const std::string& what) {
    if (n < end)
      throw FileError(path, "truncated: " + what + " needs " + std::to_string(end) +
                                " bytes, the file has " + std::to_string(n));
  };
  need(8, "the magic");
  std::vector<unsigned char> b =
      f.bytes(0, static_cast<std::size_t>(std::min<std::uint64_t>(n, 20)), "the header");
  if (std::memcmp(b.data(), checkpoint_magic, 8) != 0)
    throw FileError(path, std::memcmp(b.data(), magic, 8) == 0
                              ? "a model file, not a checkpoint (load it with ctnn::load)"
                              : "not a ctnn checkpoint (bad magic at offset 0; expected "
                                "\"CTNNCKPT\")");
  need(20, "the header");
  const auto ver = get<std::uint32_t>(b.data() + 8);
  if (ver != checkpoint_version)
    throw FileError(path, "checkpoint version " + std::to_string(ver) +
                              " at offset 8; this build reads version " +
                              std::to_string(checkpoint_version));
  const std::uint64_t M = get<std::uint64_t>(b.data() + 12);
  if (M > n - 20)  // n >= 20 here
    throw FileError(path, "truncated: the header declares a model of " + std::to_string(M) +
                              " bytes at offset 20, the file has " + std::to_string(n));
  const std::vector<float> model = read_model_image<Net>(
      M,
      [&](std::uint64_t offset, std::size_t count, const char* what) {
        return f.bytes(20 + offset, count, what);
      },
      path, "the model in the checkpoint: ");

  need(28 + M, "the length of the training state");
  b = f.bytes(20 + M, 8, "the training state's length");
  const std::uint64_t J = get<std::uint64_t>(b.data());
  if (J > max_checkpoint_json)
    throw FileError(path, "corrupt checkpoint: the training state declares " + std::to_string(J) +
                              " bytes, more than the " + std::to_string(max_checkpoint_json) +
                              " a reader accepts");
  need(28 + M + J, "the training state");
  b = f.bytes(28 + M, static_cast<std::size_t>(J), "the training state");
  const CheckpointJson in(path);
  nlohmann::json j = nlohmann::json::parse(b.begin(), b.end(), nullptr, false);
  if (j.is_discarded())
    in.corrupt("the training state at offset " + std::to_string(28 + M) + " is not valid JSON");
  if (!j.is_object() || j.value("format", std::string()) != "ctnn checkpoint")
    in.corrupt("the training state does not say \"format\": \"ctnn checkpoint\"");

  OptimizerState os;
  const auto& jo = in.member(j, "optimizer", "");
  os.type = in.text(in.member(jo, "type", "optimizer."), "optimizer.type");
  const auto& js = in.member(jo, "settings", "optimizer.");
  if (!js.is_object()) in.corrupt("optimizer.settings is not an object");
  for (const auto& [k, v] : js.items()) os.settings[k] = in.number(v, "optimizer.settings." + k);
  os.steps = in.count(in.member(jo, "steps", "optimizer."), "optimizer.steps");
  os.epochs_done = in.count(in.member(jo, "epochs_done", "optimizer."), "optimizer.epochs_done");
  const auto& jb = in.member(jo, "buffers", "optimizer.");
  if (!jb.is_array()) in.corrupt("optimizer.buffers is not an array");
  std::uint64_t floats = 0;
  for (const auto& x : jb) {
    const std::string name =
        in.text(in.member(x, "name", "optimizer.buffers[]."), "a buffer's name");
    const std::uint64_t size =
        in.count(in.member(x, "size", "optimizer.buffers[]."), "the size of buffer " + name);
    if (size != 0 && size != Net::parameter_count)
      throw InvalidArgument(path + ": the optimizer's buffer " + name + " holds " +
                            std::to_string(size) + " values, the network has " +
                            std::to_string(Net::parameter_count) + " parameters");
    os.buffers.emplace_back(name, std::vector<float>());
    floats += size;
  }
  TrainingState ts;
  const auto& jt = in.member(j, "training", "");
  ts.seed = in.count(in.member(jt, "seed", "training."), "training.seed");
  ts.batch_size = in.count(in.member(jt, "batch_size", "training."), "training.batch_size");
  ts.threads = in.count(in.member(jt, "threads", "training."), "training.threads");
  const auto& jv = in.member(j, "values", "");
  if (!jv.is_object()) in.corrupt("values is not an object");
  for (const auto& [k, v] : jv.items()) ts.values[k] = in.number(v, "values." + k);
  const auto& jh = in.member(j, "history", "");
  if (!jh.is_array()) in.corrupt("history is not an array");
  for (const auto& x : jh) {
    EpochReport r;
    r.epoch = in.count(in.member(x, "epoch", "history[]."), "history[].epoch");
    auto num = [&](const char* key) {
      return in.number(in.member(x, key, "history[]."), std::string("history[].") + key);
    };
    r.learning_rate = num("learning_rate");
    r.loss = num("loss");
    r.train_accuracy = num("train_accuracy");
    r.test_loss = num("test_loss");
    r.test_accuracy = num("test_accuracy");
    r.seconds = num("seconds");
    r.images_per_second = num("images_per_second");
    ts.history.push_back(r);
  }

  const std::uint64_t total = 28 + M + J + 4 * floats + 4;
  need(total, "the optimizer's buffers and the checksum");
  if (n > total)
    throw FileError(path, std::to_string(n - total) + " unexpected bytes after the checksum");
  b = f.bytes(0, static_cast<std::size_t>(total), "the checkpoint");
  if (get<std::uint32_t>(b.data() + total - 4) != crc32_of(b.data(), total - 4))
    throw FileError(path, "corrupt: CRC-32 mismatch (the file was damaged after it was written)");
  std::size_t at = static_cast<std::size_t>(28 + M + J);
  for (std::size_t i = 0; i < os.buffers.size(); ++i) {
    const std::size_t size = jb[i]["size"].get<std::size_t>();
    auto& buffer = os.buffers[i].second;
    buffer.resize(size);
    for (std::size_t k = 0; k < size; ++k, at += 4) buffer[k] = get<float>(b.data() + at);
  }

  Optimizer restored = optimizer;
  try {
    restored.restore(os);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(path + ": " + e.what());
  }
  assign_model(net, model);
  optimizer = std::move(restored);
  return ts;
}

}  // namespace ctnn
