// ctnn/core.hpp — the part of ctnn that needs only xsimd and threads (CMake target ctnn::core):
// networks, layers, loss, optimizers, training on in-memory datasets and sample streams,
// augmentation and batched inference, in one include. Model files, safetensors and checkpoints
// (ctnn::io) and image and IDX files (ctnn::images) come with ctnn/ctnn.hpp (ctnn::ctnn).
#pragma once

#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "data/stream.hpp"
#include "error.hpp"
#include "inference.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/composite.hpp"
#include "layers/conv2d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/pooling.hpp"
#include "layers/recurrent.hpp"
#include "loss.hpp"
#include "metadata.hpp"
#include "network.hpp"
#include "optim/adam.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
#include "predict.hpp"
#include "shape.hpp"
#include "summary.hpp"
#include "train.hpp"
#include "version.hpp"
