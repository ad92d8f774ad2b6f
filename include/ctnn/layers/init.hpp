// ctnn/layers/init.hpp — weight initialisers: `Initializer::fill(w, n, fan_in, fan_out, rng)`
// fills the n weights w, as the Initializer argument of Conv2D and Dense asks.
#pragma once

#include <cmath>
#include <cstddef>

#include "../random.hpp"

namespace ctnn {

namespace init {

/// He et al. 2015, "Delving Deep into Rectifiers": uniform on [-l, l], l = sqrt(6 / fan_in).
struct HeUniform {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t, Rng& rng) {
    const float l = std::sqrt(6.0f / static_cast<float>(fan_in));
    for (std::size_t i = 0; i < n; ++i) w[i] = rng.uniform(-l, l);
  }
};
/// He et al. 2015: normal with standard deviation sqrt(2 / fan_in).
struct HeNormal {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t, Rng& rng) {
    const float s = std::sqrt(2.0f / static_cast<float>(fan_in));
    for (std::size_t i = 0; i < n; ++i) w[i] = s * rng.normal();
  }
};
/// Glorot & Bengio 2010: uniform on [-l, l], l = sqrt(6 / (fan_in + fan_out)). The default of
/// Conv2D and Dense, as in Keras.
struct GlorotUniform {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
    const float l = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
    for (std::size_t i = 0; i < n; ++i) w[i] = rng.uniform(-l, l);
  }
};
/// Glorot & Bengio 2010: normal with standard deviation sqrt(2 / (fan_in + fan_out)).
struct GlorotNormal {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
    const float s = std::sqrt(2.0f / static_cast<float>(fan_in + fan_out));
    for (std::size_t i = 0; i < n; ++i) w[i] = s * rng.normal();
  }
};

}  // namespace init

}  // namespace ctnn
