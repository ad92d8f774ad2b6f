// ctnn/io/detail/checkpoint_json.hpp — the JSON block of a checkpoint, written and read with
// nlohmann-json. Included by io/checkpoint.hpp, inline by default; see json_linkage.hpp for
// compiling it once.
#pragma once

#include <cmath>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../checkpoint.hpp"
#include "json_reader.hpp"

namespace ctnn::io::detail {

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

/// What the JSON block of a checkpoint may hold: see JsonLimits and docs/model-format.md.
inline constexpr JsonLimits checkpoint_json_limits{};

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
  std::uint64_t count(const nlohmann::json& j, const std::string& what,
                      std::uint64_t most = std::numeric_limits<std::uint64_t>::max()) const {
    if (!j.is_number_unsigned()) corrupt(what + " is not a whole number >= 0");
    const auto n = j.get<std::uint64_t>();
    if (n > most)
      corrupt(what + " is " + std::to_string(n) + ", more than " + std::to_string(most));
    return n;
  }
  std::string text(const nlohmann::json& j, const std::string& what) const {
    if (!j.is_string()) corrupt(what + " is not a string");
    return j.get<std::string>();
  }

 private:
  std::string path_;
};

CTNN_JSON_FUNCTION std::string checkpoint_state_json(const OptimizerState& optimizer,
                                                     const TrainingState& training) {
  nlohmann::json j;
  j["format"] = "ctnn checkpoint";
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [k, v] : optimizer.settings) settings[k] = number_to_json(v);
  nlohmann::json buffers = nlohmann::json::array();
  for (const auto& [name, b] : optimizer.buffers)
    buffers.push_back({{"name", name}, {"size", b.size()}});
  j["optimizer"] = {{"type", optimizer.type},
                    {"settings", settings},
                    {"steps", optimizer.steps},
                    {"epochs_done", optimizer.epochs_done},
                    {"buffers", buffers}};
  j["training"] = {
      {"seed", training.seed}, {"batch_size", training.batch_size}, {"threads", training.threads}};
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [k, v] : training.values) values[k] = number_to_json(v);
  j["values"] = values;
  nlohmann::json history = nlohmann::json::array();
  for (const EpochReport& r : training.history) history.push_back(report_to_json(r));
  j["history"] = history;
  return j.dump(1);
}

inline CheckpointState checkpoint_state_of(const std::string& path,
                                           const std::vector<unsigned char>& text,
                                           std::uint64_t offset, std::size_t parameter_count) {
  const CheckpointJson in(path);
  nlohmann::json j;
  const JsonProblem problem = parse_json(text, checkpoint_json_limits, j);
  const std::string at = "the training state at offset " + std::to_string(offset);
  switch (problem.kind) {
    case JsonProblem::none:
      break;
    case JsonProblem::syntax:
      in.corrupt(at + " is not valid JSON");
    case JsonProblem::duplicate:
      in.corrupt(at + ": the key '" + excerpt(problem.key) + "' appears twice in an object" +
                 (problem.depth > 1 ? " of '" + excerpt(problem.outer_key) + "'" : ""));
    case JsonProblem::too_deep:
      in.corrupt(at + " is nested deeper than " + std::to_string(checkpoint_json_limits.max_depth) +
                 " levels");
    case JsonProblem::too_many:
      in.corrupt(at + " holds more than " + std::to_string(checkpoint_json_limits.max_values) +
                 " JSON values");
  }
  if (!j.is_object() || j.value("format", std::string()) != "ctnn checkpoint")
    in.corrupt("the training state does not say \"format\": \"ctnn checkpoint\"");

  CheckpointState cs;
  OptimizerState& os = cs.optimizer;
  const auto& jo = in.member(j, "optimizer", "");
  os.type = in.text(in.member(jo, "type", "optimizer."), "optimizer.type");
  if (os.type.size() > max_quoted)
    in.corrupt("optimizer.type is " + std::to_string(os.type.size()) +
               " characters long, not an optimizer's name: '" + excerpt(os.type) + "'");
  const auto& js = in.member(jo, "settings", "optimizer.");
  if (!js.is_object()) in.corrupt("optimizer.settings is not an object");
  for (const auto& [k, v] : js.items())
    os.settings[k] = in.number(v, "optimizer.settings." + excerpt(k));
  os.steps =
      in.count(in.member(jo, "steps", "optimizer."), "optimizer.steps", OptimizerState::max_steps);
  os.epochs_done =
      static_cast<std::size_t>(in.count(in.member(jo, "epochs_done", "optimizer."),
                                        "optimizer.epochs_done", OptimizerState::max_epochs));
  const auto& jb = in.member(jo, "buffers", "optimizer.");
  if (!jb.is_array()) in.corrupt("optimizer.buffers is not an array");
  for (const auto& x : jb) {
    const std::string name =
        in.text(in.member(x, "name", "optimizer.buffers[]."), "a buffer's name");
    if (name.size() > max_quoted)
      in.corrupt("optimizer.buffers[].name is " + std::to_string(name.size()) +
                 " characters long, not a buffer's name: '" + excerpt(name) + "'");
    const std::uint64_t size = in.count(in.member(x, "size", "optimizer.buffers[]."),
                                        "the size of buffer " + excerpt(name));
    if (size != 0 && size != parameter_count)
      throw InvalidArgument(path + ": the optimizer's buffer " + excerpt(name) + " holds " +
                            std::to_string(size) + " values, the network has " +
                            std::to_string(parameter_count) + " parameters");
    os.buffers.emplace_back(name, std::vector<float>());
    cs.buffer_sizes.push_back(size);
  }
  TrainingState& ts = cs.training;
  const auto& jt = in.member(j, "training", "");
  ts.seed = in.count(in.member(jt, "seed", "training."), "training.seed");
  ts.batch_size = in.count(in.member(jt, "batch_size", "training."), "training.batch_size");
  ts.threads = in.count(in.member(jt, "threads", "training."), "training.threads");
  const auto& jv = in.member(j, "values", "");
  if (!jv.is_object()) in.corrupt("values is not an object");
  for (const auto& [k, v] : jv.items()) ts.values[k] = in.number(v, "values." + excerpt(k));
  const auto& jh = in.member(j, "history", "");
  if (!jh.is_array()) in.corrupt("history is not an array");
  if (jh.size() > os.epochs_done)
    in.corrupt("history holds " + std::to_string(jh.size()) + " epochs, optimizer.epochs_done " +
               std::to_string(os.epochs_done));
  for (const auto& x : jh) {
    EpochReport r;
    r.epoch = static_cast<std::size_t>(
        in.count(in.member(x, "epoch", "history[]."), "history[].epoch", os.epochs_done));
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
  return cs;
}

CTNN_JSON_FUNCTION CheckpointState read_checkpoint_state(const std::string& path,
                                                         const std::vector<unsigned char>& text,
                                                         std::uint64_t offset,
                                                         std::size_t parameter_count) {
  try {
    return checkpoint_state_of(path, text, offset, parameter_count);
  } catch (const std::bad_alloc&) {
    throw FileError(path, "out of memory reading the training state (" +
                              std::to_string(text.size()) + " bytes at offset " +
                              std::to_string(offset) + ")");
  }
}

}  // namespace ctnn::io::detail
