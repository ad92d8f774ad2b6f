// The networks image_folder_train chooses among, and every network the example programs train,
// which classify loads.
#pragma once

#include <cstddef>
#include <ctnn/ctnn.hpp>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>

#include "channel_scale.hpp"
#include "networks.hpp"

namespace examples {

/// The output width of every FolderCnn: the most classes image_folder_train trains.
inline constexpr std::size_t kFolderOutputs = 100;
/// The width of FolderCnn's hidden Dense layer.
inline constexpr std::size_t kFolderHidden = 128;

/// image_folder_train's network for Size x Size images of Channels channels (1 grey, 3 RGB):
/// Fashion-MNIST's CNN (Conv2D 32, 64, max pool, Conv2D 64, max pool), at 64 x 64 one stage more
/// (Conv2D 64, max pool), so that 32 x 32 and 64 x 64 end at 6 x 6 x 64 and 28 x 28 at 5 x 5 x
/// 64, then Dense<128>, ReLU, Dense<100>. Every class count from 2 to 100 uses the same 100
/// outputs: output k is class k, and the outputs of no class are switched off
/// (disable_unused_outputs) and left out of the loss (ClassesCrossEntropy in common.hpp).
template <std::size_t Size, std::size_t Channels>
using FolderCnn = std::conditional_t<
    Size == 64,
    ctnn::Sequential<ctnn::Input<Size, Size, Channels>, ctnn::Conv2D<32, 3>, ctnn::ReLU,
                     ctnn::Conv2D<64, 3>, ctnn::ReLU, ctnn::MaxPool2D<2>, ctnn::Conv2D<64, 3>,
                     ctnn::ReLU, ctnn::MaxPool2D<2>, ctnn::Conv2D<64, 3>, ctnn::ReLU,
                     ctnn::MaxPool2D<2>, ctnn::Dense<kFolderHidden>, ctnn::ReLU,
                     ctnn::Dense<kFolderOutputs>>,
    ctnn::Sequential<ctnn::Input<Size, Size, Channels>, ctnn::Conv2D<32, 3>, ctnn::ReLU,
                     ctnn::Conv2D<64, 3>, ctnn::ReLU, ctnn::MaxPool2D<2>, ctnn::Conv2D<64, 3>,
                     ctnn::ReLU, ctnn::MaxPool2D<2>, ctnn::Dense<kFolderHidden>, ctnn::ReLU,
                     ctnn::Dense<kFolderOutputs>>>;

/// The logit of an output disable_unused_outputs() switched off: exp(-1e4 - m) is 0 in float for
/// any logit m > -1e4 + 88, so softmax gives it probability 0 and argmax never picks it.
inline constexpr float kUnusedLogit = -1e4f;

/// Switches off the outputs `classes` .. 99 of a FolderCnn: zero weights and bias kUnusedLogit.
/// ClassesCrossEntropy gives them no gradient, so training keeps them off.
template <class Net>
void disable_unused_outputs(Net& net, std::size_t classes) {
  constexpr std::size_t N = kFolderOutputs, K = kFolderHidden;
  static_assert(std::is_same_v<typename Net::output_shape, ctnn::Vector<N>>);
  // The last layer, Dense<100> after Dense<128>: weights w[k][n] (K x N), then the bias [N].
  const std::span<float> p = net.parameters();
  float* w = p.data() + p.size() - N - K * N;
  float* bias = p.data() + p.size() - N;
  for (std::size_t n = classes; n < N; ++n) {
    for (std::size_t k = 0; k < K; ++k) w[k * N + n] = 0.0f;
    bias[n] = kUnusedLogit;
  }
}

/// custom_layer's network: Fashion-MNIST's classes through a layer defined outside the library.
using CustomLayerNet =
    ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Conv2D<16, 3>, ChannelScale, ctnn::ReLU,
                     ctnn::MaxPool2D<2>, ctnn::Conv2D<32, 3>, ChannelScale, ctnn::ReLU,
                     ctnn::MaxPool2D<2>, ctnn::Dense<10>>;

/// The networks of the examples trained on Fashion-MNIST.
using FashionNetworks =
    std::tuple<FashionCnn, FashionLstm, FashionGru, FashionCrnn, FashionResNet, CustomLayerNet>;
/// image_folder_train's networks.
using FolderNetworks = std::tuple<FolderCnn<28, 1>, FolderCnn<28, 3>, FolderCnn<32, 1>,
                                  FolderCnn<32, 3>, FolderCnn<64, 1>, FolderCnn<64, 3>>;

/// Whether `signature` is that of one of `Nets`.
template <class... Nets>
bool signature_in(const std::string& signature, std::tuple<Nets...>* = nullptr) {
  return ((signature == Nets::signature()) || ...);
}

}  // namespace examples
