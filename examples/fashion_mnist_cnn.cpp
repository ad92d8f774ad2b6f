// Trains the classic Keras image-classifier CNN on Fashion-MNIST and prints its test accuracy.
//
//   fashion_mnist_cnn [--data-dir DIR] [--epochs N] [--batch-size N] [--lr X] [--threads N]
//                     [--seed N] [--save PATH]
#include <ctnn/ctnn.hpp>

#include <cstdio>
#include <iostream>
#include <thread>

#include "options.hpp"

using Net = ctnn::Sequential<ctnn::Input<28, 28, 1>,                      //
                             ctnn::Conv2D<32, 3>, ctnn::ReLU,              //
                             ctnn::Conv2D<64, 3>, ctnn::ReLU,              //
                             ctnn::MaxPool2D<2>,                           //
                             ctnn::Conv2D<64, 3>, ctnn::ReLU,              //
                             ctnn::MaxPool2D<2>,                           //
                             ctnn::Dense<128>, ctnn::ReLU,                 //
                             ctnn::Dense<10>>;
static_assert(Net::parameter_count == 261962);

int main(int argc, char** argv) {
  return examples::run_classifier<Net>(
      argc, argv, "fashion_mnist_cnn",
      "Trains a convolutional network (Conv2D 32-64-64, Dense 128) on Fashion-MNIST with Adam.");
}
