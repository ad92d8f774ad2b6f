// ctnn/layers/layer.hpp — what a layer is written against, in one include: the contract
// (layers/contract.hpp: Pass, Mode, Context, BoundLayer, the capability concepts, fused
// operations), the tensors file formats ask of a layer (layers/tensors.hpp), the weight
// initialisers (layers/init.hpp) and the binding helpers (layers/binding.hpp: Rejected, the one
// message of a binding that fails). docs/layers.md explains it, with a guide to adding a layer
// outside the library.
#pragma once

#include "binding.hpp"
#include "contract.hpp"
#include "init.hpp"
#include "tensors.hpp"
