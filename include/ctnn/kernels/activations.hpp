// ctnn/kernels/activations.hpp — sigmoid and tanh written once for SIMD registers and floats.
//
// `lanes<N>(f)` calls f.template operator()<V>(j) with V = simd for every full register of N
// values and V = float for the tail, so an element-wise formula is written once as a generic
// lambda and runs vectorised. Sigmoid and tanh use xsimd's exp and tanh (max. error a few ulp).
#pragma once

#include <cmath>
#include <cstddef>

#include "simd.hpp"

namespace ctnn::kernels {

template <class V>
inline V load(const float* p) {
  if constexpr (std::is_same_v<V, simd>)
    return simd::load_unaligned(p);
  else
    return *p;
}
inline void store(simd v, float* p) {
  v.store_unaligned(p);
}
inline void store(float v, float* p) {
  *p = v;
}

inline simd sigmoid(simd x) {
  return simd(1.0f) / (simd(1.0f) + xsimd::exp(-x));
}
inline float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}
inline simd tanh(simd x) {
  return xsimd::tanh(x);
}
inline float tanh(float x) {
  return std::tanh(x);
}

/// Calls f.template operator()<simd>(j) for j = 0, W, 2W, ... while a full register fits in N,
/// then f.template operator()<float>(j) for the remaining j < N.
template <std::size_t N, class F>
inline void lanes(F&& f) {
  constexpr std::size_t full = N / simd_width * simd_width;
  for (std::size_t j = 0; j < full; j += simd_width) f.template operator()<simd>(j);
  for (std::size_t j = full; j < N; ++j) f.template operator()<float>(j);
}

}  // namespace ctnn::kernels
