// Must not compile: a layer defined outside the library without backward() is refused by the
// contract check, in one error naming ctnn::BoundLayer.
#include <ctnn/ctnn.hpp>

struct NoBackward {
  template <class In>
  struct bind {
    using input_shape = In;
    using output_shape = In;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = 0;
    static std::string name() { return "NoBackward"; }
    static void init(float*, float*, ctnn::Rng&) {}
    static void forward(const ctnn::Pass&) {}
  };
};

using Bad = ctnn::Sequential<ctnn::Input<8>, NoBackward, ctnn::Dense<2>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
