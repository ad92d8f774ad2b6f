// ctnn/summary.hpp — a table of a network's layers, in the manner of Keras' model.summary().
#pragma once

#include <algorithm>
#include <cstddef>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "attributes.hpp"
#include "layers/layer.hpp"

namespace ctnn {

namespace detail {
/// One row of summary(): `a` and `b` left-aligned in columns of w1 and w2, `c` right-aligned in
/// w3.
inline void summary_row(std::ostream& os, const std::string& a, const std::string& b,
                        const std::string& c, int w1, int w2, int w3) {
  os << std::left << std::setw(w1) << a << std::setw(w2) << b << std::right << std::setw(w3) << c
     << "\n";
}

/// Rows of bound layer L for summary(): its name and, for a composite (ctnn::Composite),
/// a row per part below it, indented; Residual's parts are labelled main: and shortcut:.
template <class L, class Row>
CTNN_COLD void summary_rows(Row& row, const std::string& indent, const std::string& label) {
  if constexpr (Composite<L>) {
    const char* kind = L::kind == LayerKind::residual ? "Residual"
                       : L::kind == LayerKind::concat ? "Concat"
                                                      : "Chain";
    row(detail::join({indent, label, kind}), L::output_shape::name(),
        std::to_string(L::parameter_count));
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (summary_rows<std::tuple_element_t<I, typename L::parts>>(
           row, detail::join({indent, "  "}),
           L::kind == LayerKind::residual ? (I == 0 ? "main: " : "shortcut: ") : ""),
       ...);
    }
    (std::make_index_sequence<std::tuple_size_v<typename L::parts>>{});
  } else {
    row(detail::join({indent, label, L::name()}), L::output_shape::name(),
        std::to_string(L::parameter_count));
  }
}
}  // namespace detail

/// Writes one row per layer (name, output shape, parameter count), with the parts of composite
/// layers (Chain, Residual, Concat) indented below them, then the totals: parameters, state
/// floats, forward FLOPs per sample and the bytes of a Workspace for one sample.
/// The name and shape columns are 28 and 22 characters wide, or one more than the longest name
/// (padded or nested layers) or shape.
template <class Net>
CTNN_COLD void summary(std::ostream& os) {
  const auto layer_rows = [&](auto& row) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (detail::summary_rows<typename Net::template layer<I>>(row, "", ""), ...);
    }
    (std::make_index_sequence<Net::layer_count>{});
  };
  std::size_t longest_name = 0, longest_shape = Net::input_shape::name().size();
  auto measure = [&](const std::string& a, const std::string& b, const std::string&) {
    longest_name = std::max(longest_name, a.size());
    longest_shape = std::max(longest_shape, b.size());
  };
  layer_rows(measure);
  const int w1 = std::max(28, static_cast<int>(longest_name) + 1);
  const int w2 = std::max(22, static_cast<int>(longest_shape) + 1), w3 = 12;
  const std::string rule(w1 + w2 + w3, '-');
  auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
    detail::summary_row(os, a, b, c, w1, w2, w3);
  };
  os << rule << "\n";
  row("Layer", "Output shape", "Param #");
  os << std::string(w1 + w2 + w3, '=') << "\n";
  row("Input", Net::input_shape::name(), "0");
  layer_rows(row);
  os << std::string(w1 + w2 + w3, '=') << "\n";
  std::ostringstream flops;
  flops << std::fixed << std::setprecision(2) << static_cast<double>(Net::flops) / 1e6 << " M";
  os << "Total params: " << Net::parameter_count << "\n";
  if (Net::state_count > 0) os << "Non-trainable state: " << Net::state_count << "\n";
  os << "Forward FLOPs per sample: " << flops.str() << "\n";
  os << "Workspace for one sample: " << Net::workspace_bytes
     << " bytes (inference only: " << Net::inference_workspace_bytes << ")\n";
  os << rule << "\n";
}

}  // namespace ctnn
