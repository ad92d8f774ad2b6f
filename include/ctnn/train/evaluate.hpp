// ctnn/train/evaluate.hpp — evaluate(): loss, accuracy and confusion matrix of a network on a
// data set held in memory or read as a stream, on threads and, with a collective, processes.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "../attributes.hpp"
#include "../collective.hpp"
#include "../data/dataset.hpp"
#include "../data/stream.hpp"
#include "../loss.hpp"
#include "../network.hpp"
#include "../parallel.hpp"
#include "../reports.hpp"
#include "checks.hpp"
#include "settings.hpp"
#include "source.hpp"

namespace ctnn {

namespace detail {

/// The Evaluation of per-thread loss sums and confusion matrices (thread t's row a is
/// confusion[t * N + a]), summed over the threads and, with a collective, over the processes;
/// `size` samples in all. With a collective, first checks that every process has the same N
/// and size (SettingMismatch otherwise), since the sum's length depends on N.
CTNN_COLD inline Evaluation combine_evaluation(
    const std::vector<double>& loss, const std::vector<std::vector<std::size_t>>& confusion,
    std::size_t N, Collective* collective, std::size_t size) {
  if (collective) {
    const Setting sizes[] = {Setting::integer("classes", N), Setting::integer("samples", size)};
    check_agreement(*collective, sizes, "evaluate");
  }
  const std::size_t T = loss.size();
  Evaluation e;
  e.confusion.assign(N, std::vector<std::size_t>(N, 0));
  std::size_t right = 0;
  for (std::size_t t = 0; t < T; ++t) {
    e.loss += loss[t];
    for (std::size_t a = 0; a < N; ++a)
      for (std::size_t b = 0; b < N; ++b) e.confusion[a][b] += confusion[t * N + a][b];
  }
  if (collective) {  // counts below 2^53 are exact in doubles
    std::vector<double> totals(1 + N * N);
    totals[0] = e.loss;
    for (std::size_t a = 0; a < N; ++a)
      for (std::size_t b = 0; b < N; ++b) totals[1 + a * N + b] = double(e.confusion[a][b]);
    collective->allreduce_sum(totals.data(), totals.size());
    e.loss = totals[0];
    for (std::size_t a = 0; a < N; ++a)
      for (std::size_t b = 0; b < N; ++b)
        e.confusion[a][b] = static_cast<std::size_t>(totals[1 + a * N + b]);
  }
  for (std::size_t a = 0; a < N; ++a) right += e.confusion[a][a];
  e.loss /= static_cast<double>(size);
  e.accuracy = static_cast<double>(right) / static_cast<double>(size);
  return e;
}

/// The Evaluation of a regression set: per-thread sums of the loss, of the squared and of the
/// absolute differences between outputs and targets, summed over the threads and, with a
/// collective, the processes (which first check that they agree on N and size); `size` samples
/// of N outputs in all.
CTNN_COLD inline Evaluation combine_regression(const std::vector<std::array<double, 3>>& sums,
                                               std::size_t N, Collective* collective,
                                               std::size_t size) {
  if (collective) {
    const Setting sizes[] = {Setting::integer("outputs", N), Setting::integer("samples", size)};
    check_agreement(*collective, sizes, "evaluate");
  }
  double totals[3] = {0, 0, 0};
  for (const auto& t : sums)
    for (std::size_t k = 0; k < 3; ++k) totals[k] += t[k];
  if (collective) collective->allreduce_sum(totals, 3);
  Evaluation e;
  const double values = double(size) * double(N);
  e.loss = totals[0] / double(size);
  e.accuracy = std::numeric_limits<double>::quiet_NaN();
  e.rmse = std::sqrt(totals[1] / values);
  e.mae = totals[2] / values;
  return e;
}

/// evaluate() on a reader (train/source.hpp) of checked data: this process's share of the
/// samples (all of them without a collective) is planned in order and staged in blocks
/// (Reader::block: a Dataset's share at once, a stream's threads x batch_size samples), each
/// block split among the threads, which run it in forward calls of batch_size samples.
template <class Loss, class Net, class Reader>
Evaluation evaluate_reader(const Net& net, Reader& data, std::size_t threads,
                           std::size_t batch_size, const Loss& loss_function,
                           Collective* collective) {
  loss_function.check(Net::output_shape::size);
  if (batch_size == 0) throw InvalidArgument("evaluate: batch size must be at least 1");
  check_evaluation_agreement<Net>(collective, data.source(), loss_function);
  check_loss_for_data<Loss>(data.has_targets(), "evaluate");
  constexpr std::size_t N = Net::output_shape::size;
  const bool regression = data.has_targets();
  const auto [first, past] = collective
                                 ? split_range(data.size(), collective->rank(), collective->size())
                                 : std::pair<std::size_t, std::size_t>{0, data.size()};
  ThreadPool pool(useful_threads(threads, past - first));
  const std::size_t T = pool.size();
  std::vector<Workspace<Net>> ws;
  for (std::size_t t = 0; t < T; ++t) ws.emplace_back(batch_size, inference_only);
  std::vector<double> loss(T, 0.0);
  std::vector<std::vector<std::size_t>> confusion(regression ? 0 : T * N,
                                                  std::vector<std::size_t>(N, 0));
  std::vector<std::array<double, 3>> sums(T, {0.0, 0.0, 0.0});  // loss, squared, absolute
  data.start_range(first, past);
  const std::size_t block = Reader::block(T * batch_size, past - first);
  for (std::size_t i = first; i < past; i += block) {
    const std::size_t n = std::min(block, past - i);
    data.stage(n, 0, "evaluate");
    pool.run([&](std::size_t t) {
      const auto [begin, end] = split_range(n, t, T);
      std::array<float, N> dz;
      for (std::size_t j = begin; j < end; j += batch_size) {
        const std::size_t m = std::min(batch_size, end - j);
        const float* y = net.forward(data.input(j), m, ws[t]);
        for (std::size_t s = 0; s < m; ++s) {
          if constexpr (loss_takes_targets<Loss>()) {
            if (regression) {
              const float* target = data.target_of(j + s);
              sums[t][0] +=
                  loss_function.template compute<N>(y + s * N, 0, target, dz.data(), 1.0f);
              for (std::size_t k = 0; k < N; ++k) {
                const double d = double(y[s * N + k]) - double(target[k]);
                sums[t][1] += d * d;
                sums[t][2] += std::abs(d);
              }
              continue;
            }
          }
          const std::int32_t label = data.label_of(j + s);
          loss[t] += loss_function.template compute<N>(y + s * N, label, nullptr, dz.data(), 1.0f);
          ++confusion[t * N + static_cast<std::size_t>(label)][argmax(y + s * N, N)];
        }
      }
    });
  }
  if (regression) return combine_regression(sums, N, collective, data.size());
  return combine_evaluation(loss, confusion, N, collective, data.size());
}

}  // namespace detail

/// Loss, accuracy and confusion matrix of `net` on `data` (inference mode) or, for a data set
/// with real-valued targets (regression, with Loss = MeanSquaredError), its loss, RMSE and MAE
/// (Evaluation), with `threads`
/// threads (0: all; no more than the samples evaluated here, since each holds a workspace), each
/// running its share of the data in forward calls of `batch_size` samples (small batches keep
/// activations in cache). With a `collective`, every process of the group calls evaluate() with
/// the same network and data, evaluates its share of the samples, and all get the totals; the
/// threads and batch_size may differ between the processes. Throws InvalidArgument when the data
/// does not fit the network; with a collective, SettingMismatch on every process when the
/// processes' networks (signatures), data (size, sample size, classes, a hash of labels and
/// inputs) or loss settings differ, checked before any other communication (check_agreement());
/// what the collective throws.
template <class Loss = SoftmaxCrossEntropy, class Net>
Evaluation evaluate(const Net& net, const data::Dataset& data, std::size_t threads = 0,
                    std::size_t batch_size = 16, const Loss& loss_function = Loss{},
                    Collective* collective = nullptr) {
  detail::check_dataset<Net>(data, "evaluate");
  detail::DatasetReader reader(data);
  return detail::evaluate_reader(net, reader, threads, batch_size, loss_function, collective);
}

/// evaluate() on a stream (data::SampleStream): plans this process's share of the samples in
/// order (start()) and reads it in blocks of threads x batch_size samples, which the threads
/// share. The counts and the accuracy equal those of a Dataset holding the same samples; the
/// loss, summed in another order, agrees up to rounding. Throws as evaluate() on a Dataset (the
/// processes compare a hash of the stream's labels, not of its inputs), InvalidArgument when a
/// sample read holds a NaN or an infinity, and what the stream throws.
template <class Loss = SoftmaxCrossEntropy, class Net>
Evaluation evaluate(const Net& net, data::SampleStream& data, std::size_t threads = 0,
                    std::size_t batch_size = 16, const Loss& loss_function = Loss{},
                    Collective* collective = nullptr) {
  detail::check_stream<Net>(data, "evaluate");
  detail::Staging staging;
  detail::StreamReader reader(data, staging);
  return detail::evaluate_reader(net, reader, threads, batch_size, loss_function, collective);
}

}  // namespace ctnn
