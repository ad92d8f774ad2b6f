// Inference-only workspaces and the inference plan (layers/plan.hpp): the same outputs as a
// training workspace in inference mode (bit for bit where nothing is folded, up to rounding where
// BatchNorm is folded or a residual addition fused), in less memory; training and backward
// refuse them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ctnn/ctnn.hpp>
#include <string>
#include <vector>

#include "../examples/channel_scale.hpp"
#include "networks.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

// Largest |a - b| relative to the largest |a|.
float relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f, d = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::abs(a[i]));
    d = std::max(d, std::abs(a[i] - b[i]));
  }
  return d / std::max(m, 1e-30f);
}

// exact: the plan folds and fuses nothing that rounds differently (no BatchNorm after a Conv2D or
// Dense, no residual addition).
template <class Net>
void check_inference_workspace(const char* name, bool exact = true) {
  INFO(std::string(name));
  static_assert(Net::inference_workspace_bytes <= Net::workspace_bytes);
  const auto net = std::make_unique<Net>(3);
  if constexpr (Net::state_count > 0) {
    // BatchNorm statistics away from 0 and 1, and its scale and shift away from 1 and 0 (all
    // parameters random), so that the folded BatchNorm is tested and ReLUs do not zero all.
    const auto s = ctnn_test::random_vector(Net::state_count, 9, 0.5f, 1.5f);
    std::copy(s.begin(), s.end(), net->state().begin());
    const auto w = ctnn_test::random_vector(Net::parameter_count, 10, -0.3f, 0.3f);
    std::copy(w.begin(), w.end(), net->parameters().begin());
  }
  for (std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
    const auto x = ctnn_test::random_vector(batch * Net::input_shape::size, 4, 0.0f, 1.0f);
    Workspace<Net> full(batch), small(batch, inference_only);
    CHECK_FALSE(full.is_inference_only());
    CHECK(small.is_inference_only());
    std::vector<float> a(batch * Net::output_shape::size), b(a.size());
    net->predict(x.data(), a.data(), batch, full);
    net->predict(x.data(), b.data(), batch, small);
    if (exact)
      CHECK(a == b);
    else
      CHECK(relative_difference(a, b) < 1e-5f);
    CHECK(std::any_of(a.begin(), a.end(), [](float v) { return v != 0.0f; }));
  }
  Workspace<Net> small(2, inference_only);
  std::vector<float> x(2 * Net::input_shape::size, 0.5f), g(Net::parameter_count);
  std::vector<float> state(Net::state_count);
  Rng rng(1);
  CHECK_THROWS_AS(
      net->forward(x.data(), 2, small, Mode::training, {.state = state.data(), .rng = &rng}),
      InvalidArgument);
  std::vector<float> dout(2 * Net::output_shape::size, 1.0f);
  CHECK_THROWS_AS(net->backward(x.data(), dout.data(), g.data(), 2, small), InvalidArgument);
}

using BiNet =
    Sequential<Input<6, 4>, Bidirectional<GRU<5, true>>, Bidirectional<LSTM<3>>, Dense<3>>;
using ConcatNet =
    Sequential<Input<6, 6, 2>,
               Concat<Conv2D<3, 1>, Chain<Conv2D<2, 1>, ReLU, Conv2D<4, 3, 1, Same>>, Identity>,
               Dropout<0.3f>, Flatten, Dense<4>>;
using CustomNet = Sequential<Input<6, 6, 1>, Conv2D<3, 3>, examples::ChannelScale, ReLU,
                             Residual<Chain<Conv2D<3, 3, 1, Same>, BatchNorm>>, Dense<2>>;

// BatchNorm folded into Dense (with and without ReLU after it), BatchNorm on a flattened image.
using DenseBnNet = Sequential<Input<4, 4, 2>, Flatten, BatchNorm, Dense<7>, BatchNorm, ReLU,
                              Dense<5>, BatchNorm, Dense<3>>;
// Conv2D + BatchNorm + ReLU before a MaxPool2D (not pooled by the convolution: it folds the
// BatchNorm instead), a residual block whose Main ends in a bare Conv2D and whose projection
// ends in BatchNorm, a block not followed by ReLU, and one whose Main ends in ReLU (it cannot add).
using ConvBnPoolNet = Sequential<
    Input<9, 9, 2>, Conv2D<4, 3>, BatchNorm, ReLU, MaxPool2D<2>,
    Residual<Chain<Conv2D<6, 3, 1, Same>, ReLU, Conv2D<6, 1>>, Chain<Conv2D<6, 1>, BatchNorm>>,
    ReLU, Residual<Chain<Conv2D<6, 3, 1, Same>, BatchNorm>>,
    Residual<Chain<Conv2D<6, 1>, BatchNorm, ReLU>>, GlobalAvgPool2D, Dense<3>>;

}  // namespace

TEST_CASE("the inference plan folds BatchNorm and fuses ReLU and residual additions") {
  using ResNetPlan = detail::InferencePlan<examples::FashionResNet::layers>;
  // Conv2D+BatchNorm+ReLU, six Residual+ReLU, GlobalAvgPool2D, Dense: nine steps of 21 layers.
  static_assert(examples::FashionResNet::layer_count == 17);
  CHECK(ResNetPlan::step_count == 9);
  CHECK(ResNetPlan::step<0>.ops == (fused::affine | fused::relu));
  CHECK(ResNetPlan::step<1>.ops == fused::relu);
  // Inside a block, Main's last Conv2D folds its BatchNorm and can take the addition and ReLU.
  using Block = examples::FashionResNet::layer<3>;
  using MainPlan = detail::InferencePlan<Block::main_type::parts, fused::add | fused::relu>;
  CHECK(MainPlan::step_count == 2);
  CHECK(MainPlan::takes_tail);
  CHECK(MainPlan::step<1>.ops == (fused::affine | fused::add | fused::relu));
  // The CNN keeps its pooled convolution.
  using CnnPlan = detail::InferencePlan<examples::FashionCnn::layers>;
  CHECK(CnnPlan::step<0>.ops == fused::relu);
  CHECK(CnnPlan::step<1>.pool);
  // A Main ending in ReLU cannot add: the block adds.
  using Last = ConvBnPoolNet::layer<7>;
  CHECK_FALSE(Last::main_adds);
}

TEST_CASE("an inference-only workspace computes the same outputs in less memory") {
  check_inference_workspace<examples::FashionCnn>("cnn");
  check_inference_workspace<examples::FashionLstm>("lstm");
  check_inference_workspace<examples::FashionGru>("gru");
  check_inference_workspace<examples::FashionCrnn>("crnn");
  check_inference_workspace<examples::FashionResNet>("resnet", false);
  check_inference_workspace<BiNet>("bidirectional");
  check_inference_workspace<ConcatNet>("concat");
  check_inference_workspace<CustomNet>("custom layer in a residual network", false);
  check_inference_workspace<DenseBnNet>("dense, batchnorm, relu", false);
  check_inference_workspace<ConvBnPoolNet>("conv, batchnorm, relu, maxpool; projection", false);
  // Backward-only scratch (transposed weights, gradient buffers) is what is left out.
  CHECK(examples::FashionCnn::inference_workspace_bytes * 3 <
        examples::FashionCnn::workspace_bytes);
  CHECK(examples::FashionCrnn::inference_workspace_bytes * 5 <
        examples::FashionCrnn::workspace_bytes);
}

// Inference runs the plan through any workspace: a training workspace gives the inference-only
// workspace's outputs bit for bit, BatchNorm folded and residual additions fused included.
template <class Net>
void check_same_plan(const char* name) {
  INFO(std::string(name));
  const auto net = std::make_unique<Net>(5);
  if constexpr (Net::state_count > 0) {
    // As above: statistics and BatchNorm parameters away from their initial values.
    const auto s = ctnn_test::random_vector(Net::state_count, 11, 0.5f, 1.5f);
    std::copy(s.begin(), s.end(), net->state().begin());
    const auto w = ctnn_test::random_vector(Net::parameter_count, 13, -0.3f, 0.3f);
    std::copy(w.begin(), w.end(), net->parameters().begin());
  }
  constexpr std::size_t batch = 3;
  const auto x = ctnn_test::random_vector(batch * Net::input_shape::size, 12, 0.0f, 1.0f);
  Workspace<Net> full(batch), small(batch, inference_only);
  // A training pass first, so that the training workspace holds other values.
  std::vector<float> state(Net::state_count);
  Rng rng(2);
  net->forward(x.data(), batch, full, Mode::training, {.state = state.data(), .rng = &rng});
  std::vector<float> a(batch * Net::output_shape::size), b(a.size());
  net->predict(x.data(), a.data(), batch, full);
  net->predict(x.data(), b.data(), batch, small);
  CHECK(a == b);
  CHECK(std::any_of(a.begin(), a.end(), [](float v) { return v != 0.0f; }));
}

TEST_CASE("a training workspace in inference mode gives the inference-only outputs") {
  check_same_plan<examples::FashionResNet>("resnet");
  check_same_plan<DenseBnNet>("dense, batchnorm, relu");
  check_same_plan<ConvBnPoolNet>("conv, batchnorm, relu, maxpool; projection");
  check_same_plan<CustomNet>("custom layer in a residual network");
  check_same_plan<ConcatNet>("concat");
}
