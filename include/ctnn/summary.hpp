// ctnn/summary.hpp — a table of a network's layers, in the manner of Keras' model.summary().
#pragma once

#include <cstddef>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>

namespace ctnn {

/// Writes one row per layer (name, output shape, parameter count), then the totals: parameters,
/// state floats, forward FLOPs per sample and the bytes of a Workspace for one sample.
template <class Net>
void summary(std::ostream& os) {
  constexpr int w1 = 28, w2 = 22, w3 = 12;
  const std::string rule(w1 + w2 + w3, '-');
  auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
    os << std::left << std::setw(w1) << a << std::setw(w2) << b << std::right << std::setw(w3)
       << c << "\n";
  };
  os << rule << "\n";
  row("Layer", "Output shape", "Param #");
  os << std::string(w1 + w2 + w3, '=') << "\n";
  row("Input", Net::input_shape::name(), "0");
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (row(Net::template layer<I>::name(), Net::template layer<I>::output_shape::name(),
         std::to_string(Net::template layer<I>::parameter_count)),
     ...);
  }(std::make_index_sequence<Net::layer_count>{});
  os << std::string(w1 + w2 + w3, '=') << "\n";
  std::ostringstream flops;
  flops << std::fixed << std::setprecision(2) << static_cast<double>(Net::flops) / 1e6 << " M";
  os << "Total params: " << Net::parameter_count << "\n";
  if (Net::state_count > 0) os << "Non-trainable state: " << Net::state_count << "\n";
  os << "Forward FLOPs per sample: " << flops.str() << "\n";
  os << "Workspace for one sample: " << Net::workspace_bytes << " bytes\n";
  os << rule << "\n";
}

}  // namespace ctnn
