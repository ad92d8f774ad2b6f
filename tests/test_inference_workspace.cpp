// Inference-only workspaces: the same outputs, bit for bit, as a training workspace in inference
// mode, in less memory; training and backward refuse them.
#include <doctest/doctest.h>

#include <ctnn/ctnn.hpp>

#include <string>
#include <vector>

#include "../examples/channel_scale.hpp"
#include "networks.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

template <class Net>
void check_inference_workspace(const char* name) {
  INFO(name);
  static_assert(Net::inference_workspace_bytes <= Net::workspace_bytes);
  const auto net = std::make_unique<Net>(3);
  if constexpr (Net::state_count > 0) {  // BatchNorm statistics away from 0 and 1
    const auto s = ctnn_test::random_vector(Net::state_count, 9, 0.5f, 1.5f);
    std::copy(s.begin(), s.end(), net->state().begin());
  }
  for (std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
    const auto x = ctnn_test::random_vector(batch * Net::input_shape::size, 4, 0.0f, 1.0f);
    Workspace<Net> full(batch), small(batch, inference_only);
    CHECK_FALSE(full.is_inference_only());
    CHECK(small.is_inference_only());
    std::vector<float> a(batch * Net::output_shape::size), b(a.size());
    net->predict(x.data(), a.data(), batch, full);
    net->predict(x.data(), b.data(), batch, small);
    CHECK(a == b);
  }
  Workspace<Net> small(2, inference_only);
  std::vector<float> x(2 * Net::input_shape::size, 0.5f), g(Net::parameter_count);
  std::vector<float> state(Net::state_count);
  Rng rng(1);
  CHECK_THROWS_AS(net->forward(x.data(), 2, small, true, state.data(), &rng), InvalidArgument);
  std::vector<float> dout(2 * Net::output_shape::size, 1.0f);
  CHECK_THROWS_AS(net->backward(x.data(), dout.data(), g.data(), 2, small), InvalidArgument);
}

using BiNet = Sequential<Input<6, 4>, Bidirectional<GRU<5, true>>, Bidirectional<LSTM<3>>,
                         Dense<3>>;
using ConcatNet =
    Sequential<Input<6, 6, 2>,
               Concat<Conv2D<3, 1>, Chain<Conv2D<2, 1>, ReLU, Conv2D<4, 3, 1, Same>>, Identity>,
               Dropout<0.3f>, Flatten, Dense<4>>;
using CustomNet = Sequential<Input<6, 6, 1>, Conv2D<3, 3>, examples::ChannelScale, ReLU,
                             Residual<Chain<Conv2D<3, 3, 1, Same>, BatchNorm>>, Dense<2>>;

}  // namespace

TEST_CASE("an inference-only workspace computes the same outputs in less memory") {
  check_inference_workspace<examples::FashionCnn>("cnn");
  check_inference_workspace<examples::FashionLstm>("lstm");
  check_inference_workspace<examples::FashionGru>("gru");
  check_inference_workspace<examples::FashionCrnn>("crnn");
  check_inference_workspace<examples::FashionResNet>("resnet");
  check_inference_workspace<BiNet>("bidirectional");
  check_inference_workspace<ConcatNet>("concat");
  check_inference_workspace<CustomNet>("custom layer in a residual network");
  // Backward-only scratch (transposed weights, gradient buffers) is what is left out.
  CHECK(examples::FashionCnn::inference_workspace_bytes * 3 < examples::FashionCnn::workspace_bytes);
  CHECK(examples::FashionCrnn::inference_workspace_bytes * 5 <
        examples::FashionCrnn::workspace_bytes);
}
