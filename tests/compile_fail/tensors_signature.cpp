// Must not compile: a layer defined outside the library whose tensors() has the wrong signature
// (no TensorContext) is refused when the network binds it, in one error naming the capability
// (ctnn::DescribesTensors), inside a Chain too.
#include <ctnn/ctnn.hpp>
#include <vector>

struct Bias {
  template <class In>
  struct bind {
    using input_shape = In;
    using output_shape = In;
    static constexpr std::size_t parameter_count = In::size, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = In::size;
    static std::vector<ctnn::TensorDesc> tensors() {
      return {{"bias", {In::size}, [](std::size_t e) { return e; }}};
    }
    static std::string name() { return "Bias"; }
    static void init(float* params, float*, ctnn::Rng&) {
      for (std::size_t i = 0; i < In::size; ++i) params[i] = 0.0f;
    }
    static void forward(const ctnn::Pass& p) {
      for (std::size_t i = 0; i < p.batch * In::size; ++i)
        p.out[i] = p.in[i] + p.params[i % In::size];
    }
    static void backward(const ctnn::Pass& p) {
      for (std::size_t i = 0; i < p.batch * In::size; ++i) {
        p.grads[i % In::size] += p.dout[i];
        if (p.din) p.din[i] = p.dout[i];
      }
    }
  };
};

using Bad = ctnn::Sequential<ctnn::Input<8>, ctnn::Chain<ctnn::Dense<4>, Bias>, ctnn::Dense<2>>;
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
