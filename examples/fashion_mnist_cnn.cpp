// Trains the classic Keras image-classifier CNN on Fashion-MNIST and prints its test accuracy.
//
//   fashion_mnist_cnn [--data-dir DIR] [--epochs N] [--batch-size N] [--lr X] [--threads N]
//                     [--seed N] [--save PATH]
#include "networks.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  return examples::run_classifier<examples::FashionCnn>(
      argc, argv, "fashion_mnist_cnn",
      "Trains a convolutional network (Conv2D 32-64-64, Dense 128) on Fashion-MNIST with Adam.");
}
