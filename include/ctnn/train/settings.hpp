// ctnn/train/settings.hpp — what the processes of a distributed run compare before they train
// or evaluate together (check_agreement(), collective.hpp): the network, the data, the loss, the
// optimizer, the augmentation and fit()'s own options, each as a Setting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "../attributes.hpp"
#include "../collective.hpp"
#include "../data/augment.hpp"
#include "../data/dataset.hpp"
#include "../data/stream.hpp"
#include "../optim/optimizer.hpp"
#include "../optim/schedule.hpp"
#include "options.hpp"

namespace ctnn::detail {

inline std::string hex(std::uint64_t h) {
  std::ostringstream s;
  s << std::hex << std::setw(16) << std::setfill('0') << h;
  return s.str();
}

/// The network: its signature (the layers and their shapes), by hash.
template <class Net>
CTNN_COLD Setting network_setting() {
  const std::uint64_t h = fnv1a64(Net::signature());
  return Setting::digest("network", h,
                         std::to_string(Net::layer_count) + " layers, " +
                             std::to_string(Net::parameter_count) + " parameters, signature " +
                             hex(h));
}

/// A data set's size, sample size, classes, and a hash of its labels and inputs; `what` begins
/// the names ("training ", "test ").
CTNN_COLD inline void add_data_settings(std::vector<Setting>& out, const std::string& what,
                                        const data::Dataset& d) {
  out.push_back(Setting::integer(what + "samples", d.size()));
  out.push_back(Setting::integer(what + "sample_size", d.sample_size));
  out.push_back(Setting::integer(what + "classes", d.classes));
  std::uint64_t h = hash_words(std::span<const float>(d.inputs),
                               hash_words(std::span<const std::int32_t>(d.labels)));
  if (d.has_targets()) {  // a regression set: its targets too
    out.push_back(Setting::integer(what + "target_size", d.target_size));
    h = hash_words(std::span<const float>(d.targets), h);
  }
  out.push_back(Setting::digest(what + "data", h, "labels and inputs hash " + hex(h)));
}

/// The same for a stream, whose inputs are not read here: a hash of its labels.
CTNN_COLD inline void add_data_settings(std::vector<Setting>& out, const std::string& what,
                                        const data::SampleStream& d) {
  out.push_back(Setting::integer(what + "samples", d.size()));
  out.push_back(Setting::integer(what + "sample_size", d.sample_size()));
  out.push_back(Setting::integer(what + "classes", d.classes()));
  std::uint64_t h = fnv1a64("");
  for (std::size_t i = 0; i < d.size(); ++i) {
    const std::int32_t l = d.label(i);
    h = hash_words(std::span<const std::int32_t>(&l, 1), h);
  }
  out.push_back(Setting::digest(what + "data", h, "labels hash " + hex(h)));
}

/// The settings of the loss function that change what it computes.
template <class Loss>
CTNN_COLD void add_loss_settings(std::vector<Setting>& out, const Loss& loss) {
  if constexpr (requires { float(loss.label_smoothing); })
    out.push_back(Setting::real("label_smoothing", loss.label_smoothing));
  if constexpr (requires { std::span<const float>(loss.class_weights); }) {
    std::string text = loss.class_weights.empty() ? "none" : "";
    for (const float w : loss.class_weights) {
      if (!text.empty()) text += ',';
      text += Setting::real("", w).text;
    }
    out.push_back(Setting::digest("class_weights",
                                  hash_words(std::span<const float>(loss.class_weights)), text));
  }
}

/// The optimizer: with a state() (SGD, Adam, AdamW; optim/state.hpp) its type, every setting,
/// its step and epoch counts and a hash of its buffers; otherwise its learning rate, if any.
template <class Optimizer>
CTNN_COLD void add_optimizer_settings(std::vector<Setting>& out, const Optimizer& optimizer) {
  if constexpr (SavesState<Optimizer>) {
    const auto state = optimizer.state();
    out.push_back(Setting::label("optimizer", state.type));
    for (const auto& [name, value] : state.settings) out.push_back(Setting::real(name, value));
    out.push_back(Setting::integer("optimizer steps", state.steps));
    out.push_back(Setting::integer("epochs_done", state.epochs_done));
    std::uint64_t h = fnv1a64("");
    for (const auto& [name, buffer] : state.buffers)
      h = hash_words(std::span<const float>(buffer), fnv1a64(name, h));
    out.push_back(Setting::digest("optimizer state", h, "buffers hash " + hex(h)));
  } else if constexpr (HasLearningRate<Optimizer>) {
    out.push_back(Setting::real("learning_rate", float(optimizer.learning_rate)));
  }
}

CTNN_COLD inline std::string describe(const data::Augmentation& a) {
  if (!a.enabled()) return "none";
  return "shift " + std::to_string(a.shift) + ", hflip " + (a.hflip ? "yes" : "no") + ", erase " +
         Setting::real("", a.erase).text + " (value " + Setting::real("", a.erase_value).text + ")";
}

/// With a collective, checks that every process evaluates the same network on the same data
/// with the same loss (check_agreement()).
template <class Net, class Loss, class Data>
void check_evaluation_agreement(Collective* collective, const Data& data, const Loss& loss) {
  if (!collective || collective->size() < 2) return;  // nothing to compare (nor to hash)
  std::vector<Setting> settings{network_setting<Net>()};
  add_data_settings(settings, "", data);
  add_loss_settings(settings, loss);
  check_agreement(*collective, settings, "evaluate");
}

/// What decides fit()'s computation besides the trainer's own settings (Trainer::distribute):
/// the processes compare these before training (FitOptions::collective). Epochs first + 1 ..
/// last of `batches` steps each.
template <class Data>
CTNN_COLD std::vector<Setting> fit_settings(const Data& train, const FitOptions& options,
                                            std::size_t first, std::size_t last,
                                            std::size_t batches) {
  std::vector<Setting> settings;
  add_data_settings(settings, "training ", train);
  settings.push_back(Setting::integer("batch_size", options.batch_size));
  settings.push_back(Setting::integer("epochs", options.epochs));
  settings.push_back(Setting::flag("shuffle", options.shuffle));
  if (options.schedule && last > first) {  // its rates at the first, middle and last step
    std::string text;
    std::uint64_t h = fnv1a64("");
    for (const std::size_t step :
         {first * batches, (first + last) * batches / 2, last * batches - 1}) {
      const float lr = options.schedule(TrainingProgress{step, step / batches, last, batches});
      h = hash_words(std::span<const float>(&lr, 1), h);
      if (!text.empty()) text += ", ";
      text += Setting::real("", lr).text;
    }
    settings.push_back(Setting::digest("schedule", h, "rates " + text));
  } else {
    settings.push_back(Setting::label("schedule", options.schedule ? "set" : "none"));
  }
  settings.push_back(Setting::label("test set", options.test          ? "in memory"
                                                : options.test_stream ? "a stream"
                                                                      : "none"));
  if (options.test) add_data_settings(settings, "test ", *options.test);
  if (options.test_stream) add_data_settings(settings, "test ", *options.test_stream);
  return settings;
}

}  // namespace ctnn::detail
