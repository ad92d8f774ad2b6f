// Must not compile: a layer defined outside the library that declares fused_ops without a
// matching forward_fused<Ops> is refused when the network binds it, in one error naming the
// capability (ctnn::FusesOps).
#include <ctnn/ctnn.hpp>

struct Doubler {
  template <class In>
  struct bind {
    using input_shape = In;
    using output_shape = In;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = In::size;
    static constexpr unsigned fused_ops = ctnn::fused::relu;
    static std::string name() { return "Doubler"; }
    static void init(float*, float*, ctnn::Rng&) {}
    static void forward(const ctnn::Pass& p) {
      for (std::size_t i = 0; i < p.batch * In::size; ++i) p.out[i] = 2 * p.in[i];
    }
    static void backward(const ctnn::Pass& p) {
      if (p.din)
        for (std::size_t i = 0; i < p.batch * In::size; ++i) p.din[i] = 2 * p.dout[i];
    }
  };
};

using Bad = ctnn::Sequential<ctnn::Input<8>, ctnn::Dense<4>, Doubler, ctnn::ReLU, ctnn::Dense<2>>;
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
