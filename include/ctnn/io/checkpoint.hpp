// ctnn/io/checkpoint.hpp — save_checkpoint() and load_checkpoint(): everything training needs to
// go on exactly where it stopped.
//
// A checkpoint holds the network (a whole model file image, as save() writes it), the
// optimizer's state (hyper-parameters, step count, epochs done, moment buffers; see
// optim/state.hpp), the training settings that decide the random streams (seed, batch size,
// threads), the state of schedules and callbacks (ReduceLROnPlateau, EarlyStopping, SaveBest:
// see CallbackState) as named values, and the history of epoch reports. fit() draws every random
// number (shuffle, Dropout masks, augmentation) from generators seeded by the seed and the epoch
// or step number, so no generator state needs saving: resuming with the same seed, batch size and
// threads gives the same bits as never stopping. The byte layout is in docs/model-format.md
// ("Checkpoints").
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "../attributes.hpp"
#include "../error.hpp"
#include "../optim/optimizer.hpp"
#include "../optim/state.hpp"
#include "../reports.hpp"
#include "detail/json_linkage.hpp"
#include "model_file.hpp"

namespace ctnn {

/// What a checkpoint holds besides the network and the optimizer.
struct TrainingState {
  std::uint64_t seed = 1;      ///< FitOptions::seed
  std::size_t batch_size = 0;  ///< FitOptions::batch_size
  std::size_t threads = 0;     ///< the number of training threads
  /// Named values (NaN and infinities kept): the state of the schedules and callbacks given to
  /// save_checkpoint(), each value as "<name>.<key>" (e.g. "plateau.best"; see CallbackState),
  /// and any values of the caller's own.
  std::map<std::string, double> values;
  /// The reports of the epochs trained so far: at most the optimizer's epochs_done.
  std::vector<EpochReport> history;
};

namespace io::detail {

inline constexpr char checkpoint_magic[8] = {'C', 'T', 'N', 'N', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t checkpoint_version = 1;
/// The largest JSON block a reader accepts (besides checkpoint_json_limits).
inline constexpr std::uint64_t max_checkpoint_json = std::uint64_t{1} << 28;

/// The CRC-32 of the first `n` bytes of `f`, read a MiB at a time.
inline std::uint32_t crc32_of_file(const InputFile& f, std::uint64_t n) {
  std::vector<unsigned char> piece(static_cast<std::size_t>(std::min<std::uint64_t>(n, 1 << 20)));
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::uint64_t at = 0; at < n;) {
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n - at, piece.size()));
    f.read(at, piece.data(), k);
    crc = crc32(crc, piece.data(), static_cast<uInt>(k));
    at += k;
  }
  return static_cast<std::uint32_t>(crc);
}

/// The JSON block of a checkpoint: the optimizer's state without its buffers' values (their
/// names and sizes), the training settings, the named values and the history.
CTNN_JSON_FUNCTION std::string checkpoint_state_json(const OptimizerState& optimizer,
                                                     const TrainingState& training);

/// What the JSON block of a checkpoint holds: the optimizer's state with its buffers named but
/// empty, each buffer's size, and the training state.
struct CheckpointState {
  OptimizerState optimizer;
  std::vector<std::uint64_t> buffer_sizes;
  TrainingState training;
};

/// Reads the JSON block `text` of the checkpoint `path`, found at byte `offset` of the file.
/// Throws FileError naming `path` for malformed JSON (a key twice in an object included), JSON
/// past checkpoint_json_limits (nesting, number of values), a missing or mistyped member, a
/// field out of its range (docs/model-format.md), or when memory runs out; InvalidArgument for
/// a buffer whose size is neither 0 nor `parameter_count`.
CTNN_JSON_FUNCTION CheckpointState read_checkpoint_state(const std::string& path,
                                                         const std::vector<unsigned char>& text,
                                                         std::uint64_t offset,
                                                         std::size_t parameter_count);

/// `values` with the state of each part filed as "<name>.<key>", replacing what the values held
/// under its name. Throws InvalidArgument, naming `who`, for a name that is empty, holds a '.',
/// or is two parts' name.
CTNN_COLD inline std::map<std::string, double> with_states(
    const char* who, std::map<std::string, double> values,
    const std::vector<CallbackState>& states) {
  for (std::size_t i = 0; i < states.size(); ++i) {
    const std::string& name = states[i].name;
    if (name.empty() || name.find('.') != std::string::npos)
      throw InvalidArgument(std::string(who) + ": the state name '" + name +
                            "' is empty or holds a '.'");
    for (std::size_t k = 0; k < i; ++k)
      if (states[k].name == name)
        throw InvalidArgument(std::string(who) + ": two schedules or callbacks keep their state " +
                              "under the name '" + name + "'; a checkpoint holds one");
    const std::string prefix = name + ".";
    std::erase_if(values, [&](const auto& v) { return v.first.starts_with(prefix); });
    for (const auto& [key, value] : states[i].values) values[prefix + key] = value;
  }
  return values;
}

/// The state filed under `name` in `values` (see with_states); its values are empty when the
/// values hold none under that name.
inline CallbackState state_in(const std::map<std::string, double>& values,
                              const std::string& name) {
  CallbackState s{name, {}};
  const std::string prefix = name + ".";
  for (auto it = values.lower_bound(prefix); it != values.end() && it->first.starts_with(prefix);
       ++it)
    s.values[it->first.substr(prefix.size())] = it->second;
  return s;
}

}  // namespace io::detail

/// Writes a checkpoint of `net`, `optimizer` (its state(): see optim/state.hpp), `training` and
/// the state of `parts`, the schedules and callbacks that learn from the epochs (say a
/// ReduceLROnPlateau and an EarlyStopping: any type with CallbackState state() const and
/// restore(const CallbackState&)), filed in the training state's values under their names, to
/// `path`, atomically as save() writes (a complete file or the previous one, never half of
/// one; a new file gets mode 0666 less the umask, a replaced one keeps its mode; only a regular
/// file, or the one a symbolic link leads to, is replaced):
///
///   ctnn::save_checkpoint("run.ckpt", net, adam, training, plateau, stopping);
///
/// Throws FileError on any I/O failure and for a target save() refuses (a directory, device,
/// FIFO, socket, dangling link); InvalidArgument, writing nothing, when the optimizer's
/// epochs_done or steps pass OptimizerState::max_epochs or max_steps, the history holds more
/// epochs than epochs_done, or two parts have the same state name.
template <class Net, class Optimizer, class... Parts>
requires(SavesCallbackState<Parts>&&...) CTNN_COLD
    void save_checkpoint(const std::string& path, const Net& net, const Optimizer& optimizer,
                         const TrainingState& training, const Parts&... parts) {
  using namespace io::detail;
  static_assert(SavesState<Optimizer>,
                "save_checkpoint: the optimizer needs OptimizerState state() const and "
                "restore(const OptimizerState&), as SGD, Adam and AdamW have");
  const OptimizerState os = optimizer.state();
  // What load_checkpoint() would refuse is not written.
  if (os.epochs_done > OptimizerState::max_epochs || os.steps > OptimizerState::max_steps)
    throw InvalidArgument("save_checkpoint: the optimizer has trained " +
                          std::to_string(os.epochs_done) + " epochs in " +
                          std::to_string(os.steps) + " steps; a checkpoint holds at most " +
                          std::to_string(OptimizerState::max_epochs) + " epochs and " +
                          std::to_string(OptimizerState::max_steps) + " steps");
  if (training.history.size() > os.epochs_done)
    throw InvalidArgument("save_checkpoint: the history holds " +
                          std::to_string(training.history.size()) +
                          " epochs, the optimizer has trained " + std::to_string(os.epochs_done));
  std::string text;
  if constexpr (sizeof...(Parts) == 0) {
    text = checkpoint_state_json(os, training);
  } else {
    TrainingState t = training;
    t.values = with_states("save_checkpoint", std::move(t.values), {parts.state()...});
    text = checkpoint_state_json(os, t);
  }

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

/// Reads a checkpoint written by save_checkpoint() into `net`, `optimizer` (its restore(),
/// which also sets its hyper-parameters, as PyTorch's load_state_dict) and `parts` (schedules
/// and callbacks, as for save_checkpoint: each part's restore() gets the values filed under its
/// state name; a part the checkpoint holds no values of, say a callback added on resuming,
/// keeps its state) and returns the training state:
///
///   const ctnn::TrainingState t = ctnn::load_checkpoint("run.ckpt", net, adam, plateau, stopping);
///
/// All or nothing: on any error `net`, `optimizer` and `parts` are unchanged. Throws
/// SignatureMismatch when the checkpoint holds another network type (naming the first
/// differing layer); FileError when the file cannot be read or is not a regular file (a
/// directory, a FIFO or a device is refused when opened, without blocking), is not a checkpoint,
/// has another version, fails its CRC-32 (checked before the JSON is parsed: a damaged, truncated
/// or extended file), is truncated or longer than it says, is malformed (see
/// read_checkpoint_state), its model holds a value that is not finite or a negative running
/// variance (as load() refuses), or memory runs out;
/// InvalidArgument, naming `path`, when it holds another optimizer's state (say AdamW's for an
/// Adam), buffers that do not fit the network, or a state a part's restore() refuses.
template <class Net, class Optimizer, class... Parts>
requires(SavesCallbackState<Parts>&&...) CTNN_COLD TrainingState
    load_checkpoint(const std::string& path, Net& net, Optimizer& optimizer, Parts&... parts) {
  using namespace io::detail;
  static_assert(SavesState<Optimizer>,
                "load_checkpoint: the optimizer needs OptimizerState state() const and "
                "restore(const OptimizerState&), as SGD, Adam and AdamW have");
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
  need(28 + M + J + 4, "the training state and the checksum");
  // The checksum first: the JSON of a damaged file is not parsed.
  b = f.bytes(n - 4, 4, "the checksum");
  if (get<std::uint32_t>(b.data()) != crc32_of_file(f, n - 4))
    throw FileError(path,
                    "corrupt: CRC-32 mismatch (the file was damaged, truncated or extended after "
                    "it was written)");
  b = f.bytes(28 + M, static_cast<std::size_t>(J), "the training state");
  CheckpointState cs = read_checkpoint_state(path, b, 28 + M, Net::parameter_count);
  OptimizerState& os = cs.optimizer;
  std::uint64_t floats = 0;
  for (std::uint64_t size : cs.buffer_sizes) floats += size;

  const std::uint64_t total = 28 + M + J + 4 * floats + 4;
  need(total, "the optimizer's buffers and the checksum");
  if (n > total)
    throw FileError(path, std::to_string(n - total) + " unexpected bytes after the checksum");
  b = f.bytes(28 + M + J, static_cast<std::size_t>(4 * floats), "the optimizer's buffers");
  std::size_t at = 0;
  for (std::size_t i = 0; i < os.buffers.size(); ++i) {
    const auto size = static_cast<std::size_t>(cs.buffer_sizes[i]);
    auto& buffer = os.buffers[i].second;
    try {
      buffer.resize(size);
    } catch (const std::bad_alloc&) {
      throw FileError(path, "out of memory: cannot allocate the optimizer's buffer " +
                                excerpt(os.buffers[i].first) + " (" + std::to_string(size) +
                                " values)");
    }
    for (std::size_t k = 0; k < size; ++k, at += 4) buffer[k] = get<float>(b.data() + at);
  }

  Optimizer restored = optimizer;
  // Each part restored in turn; when one refuses its state, those before it get theirs back.
  std::vector<std::function<void()>> undo;
  try {
    restored.restore(os);
    [[maybe_unused]] const auto restore_part = [&](auto& part) {
      CallbackState before = part.state();
      const CallbackState s = state_in(cs.training.values, before.name);
      if (s.values.empty()) return;  // not in the checkpoint: the part keeps its state
      part.restore(s);
      undo.push_back([&part, before = std::move(before)] { part.restore(before); });
    };
    (restore_part(parts), ...);
  } catch (...) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
    try {
      throw;
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(path + ": " + e.what());
    }
  }
  assign_model(net, model);
  optimizer = std::move(restored);
  return std::move(cs.training);
}

}  // namespace ctnn

#if CTNN_JSON_DEFINITIONS
#include "detail/checkpoint_json.hpp"
#endif
