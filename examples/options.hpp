// The train-then-evaluate driver shared by the example classifiers. What does not depend on the
// network type (command-line handling, loading the data, the training recipe, the report) is in
// common.hpp, compiled once in the ctnn_examples_common library; the templates here keep what
// needs the network type: constructing, training, evaluating, saving and checkpointing it.
#pragma once

#include <ctnn/callbacks.hpp>
#include <ctnn/io/checkpoint.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/summary.hpp>
#include <ctnn/train.hpp>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common.hpp"

namespace examples {

/// Prints a line naming the data and settings and the network summary, trains a new network
/// with Adam (AdamW with --weight-decay) and the recipe's options, printing one line per epoch,
/// saves it with `metadata` when --save was given, prints the confusion matrix and last
/// "test accuracy: 0.xxxx". Returns the trained network. `Data` is a Dataset (const) or a
/// SampleStream, read as fit() reads them. With fewer `class_names` than the network has outputs,
/// the loss is computed over the first class_names.size() outputs only (ClassesCrossEntropy).
/// `prepare`, when given, is applied to the new network before training (and before --resume
/// reads a checkpoint into it). Throws what fit(), evaluate() and save() throw.
template <class Net, class Data>
std::unique_ptr<Net> train_and_report(const Options& o, const char* name, Data& full_train,
                                      Data& test, const std::vector<std::string>& class_names = {},
                                      const ctnn::Metadata& metadata = {},
                                      const std::function<void(Net&)>& prepare = {}) {
  Training t(o, name, full_train, test);
  t.loss.classes = class_names.size();
  ctnn::summary<Net>(std::cout);
  auto net = std::make_unique<Net>(o.seed);
  if (prepare) prepare(*net);
  ctnn::TrainingState earlier = t.initial_state();
  if (!o.resume.empty()) {
    try {
      earlier = ctnn::load_checkpoint(o.resume, *net, t.optimizer, t.plateau(), t.stopping());
    } catch (const ctnn::InvalidArgument& e) {
      t.resume_failed(e);
    }
    t.resumed(earlier);
  }
  t.add_history(earlier);
  if (!o.checkpoint.empty() && leader(o))  // last: the callbacks before it have seen the epoch
    t.fit_options.on_epoch_end.push_back(
        ctnn::SaveCheckpoint(*net, t.optimizer, o.checkpoint, earlier, t.plateau(), t.stopping()));
  if constexpr (std::is_base_of_v<ctnn::data::SampleStream, Data>)
    ctnn::fit(*net, t.optimizer, full_train, t.fit_options, t.loss);
  else
    ctnn::fit(*net, t.optimizer, t.train(), t.fit_options, t.loss);
  // The test loss without label smoothing, over the data set's classes (as trained).
  const ctnn::Evaluation e = ctnn::evaluate(
      *net, test, o.threads, 16, ClassesCrossEntropy{0.0f, t.loss.classes}, collective(o));
  print_checksum(o, name, net->parameters());
  if (!o.save.empty() && leader(o)) {
    ctnn::save(*net, o.save, metadata);
    t.saved();
  }
  t.report(e, class_names);
  return net;
}

/// Loads Fashion-MNIST (standardised with `standardize`, see load_fashion()), prints the network
/// summary, trains with Adam, prints one line per epoch and last "test accuracy: 0.xxxx". The
/// saved model holds Fashion-MNIST's class names and the preprocessing of its images.
/// `defaults` are the options without flags (the example's recipe). Returns the process exit
/// status.
template <class Net>
int run_classifier(int argc, char** argv, const char* name, const char* what,
                   bool standardize = false, const Options& defaults = {}) {
  const Options o = parse(argc, argv, what, {}, true, defaults);
  try {
    const FashionMnist d = load_fashion(o, standardize);
    train_and_report<Net>(o, name, d.train, d.test, fashion_classes,
                          {fashion_classes, d.preprocessing, {{"trained by", name}}});
  } catch (const std::exception& e) {
    return report_error(name, e);
  }
  return 0;
}

}  // namespace examples
