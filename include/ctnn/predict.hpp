// ctnn/predict.hpp — what a program does with a classifier's outputs: softmax probabilities,
// the k best classes, and their names from a file's metadata.
//
// Predicting on one image file takes these lines (model.hpp, data/image.hpp):
//
//   ctnn::Model model = ctnn::load_any<Net1, Net2>("model.ctnn");
//   const auto& pre = *model.metadata().preprocessing;      // stored by save(net, path, md)
//   const std::vector<float> x = ctnn::data::load_image("flower.png", pre);
//   const std::vector<float> p = ctnn::softmax(model.predict(x, 1));
//   for (const ctnn::Scored& s : ctnn::top_k(p, 3))
//     std::cout << s.score << "  " << ctnn::class_name(model.metadata(), s.index) << "\n";
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "error.hpp"
#include "kernels/softmax.hpp"
#include "metadata.hpp"

namespace ctnn {

/// The softmax of one row of logits (kernels/softmax.hpp, the one the Softmax layer and the
/// loss use): p_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j, so no exp overflows and the
/// p_i are in [0, 1] and sum to 1 up to rounding. For a batch, call it on each row (a network's
/// output is batch rows of output_shape::size values). Throws InvalidArgument when `logits` is
/// empty or holds a value that is not finite (NaN or infinite: a network whose weights are too
/// large), naming its index; the probabilities are then not computed.
inline std::vector<float> softmax(std::span<const float> logits) {
  if (logits.empty()) throw InvalidArgument("softmax: no logits");
  for (std::size_t i = 0; i < logits.size(); ++i)
    if (!std::isfinite(logits[i]))
      throw InvalidArgument("softmax: logit " + std::to_string(i) + " is " +
                            std::to_string(logits[i]) + "; the logits must be finite");
  std::vector<float> p(logits.size());
  kernels::softmax(logits.data(), p.data(), p.size());
  return p;
}

/// One entry of top_k(): a position in the scores and its score.
struct Scored {
  std::size_t index = 0;
  float score = 0;
  friend bool operator==(const Scored&, const Scored&) = default;
};

/// The min(k, scores.size()) largest scores with their indices, largest first; equal scores in
/// the order of their indices (a stable sort). O(n log k) (std::partial_sort). Throws
/// InvalidArgument when a score is NaN, naming its index (NaN has no order).
inline std::vector<Scored> top_k(std::span<const float> scores, std::size_t k) {
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (std::isnan(scores[i]))
      throw InvalidArgument("top_k: score " + std::to_string(i) + " is NaN");
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  k = std::min(k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t a, std::size_t b) {
                      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
                    });
  std::vector<Scored> out(k);
  for (std::size_t r = 0; r < k; ++r) out[r] = {order[r], scores[order[r]]};
  return out;
}

/// The name of class i: metadata.class_names[i] when the metadata names it, else i in decimal
/// ("7"), so that a file without class names still prints something true.
inline std::string class_name(const Metadata& metadata, std::size_t i) {
  return i < metadata.class_names.size() ? metadata.class_names[i] : std::to_string(i);
}

}  // namespace ctnn
