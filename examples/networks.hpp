// The reference networks of the examples and benchmarks, as types: those of the installed
// header ctnn/zoo/fashion.hpp, under the names the examples use.
#pragma once

#include <cstddef>
#include <ctnn/zoo/fashion.hpp>

namespace examples {

using ctnn::zoo::FashionCnn;
using ctnn::zoo::FashionCrnn;
using ctnn::zoo::FashionGru;
using ctnn::zoo::FashionLstm;
using ctnn::zoo::FashionResNet;
template <std::size_t Filters, std::size_t Stride = 1>
using BasicBlock = ctnn::zoo::BasicBlock<Filters, Stride>;

}  // namespace examples
