// Trains the headline network, Conv2D<32,3> -> MaxPool2D<2> -> LSTM<256> -> Dense<10>, on
// Fashion-MNIST and prints its test accuracy.
//
//   fashion_mnist_crnn [--data-dir DIR] [--epochs N] [--batch-size N] [--lr X] [--threads N]
//                      [--seed N] [--save PATH]
#include "networks.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  return examples::run_classifier<examples::FashionCrnn>(
      argc, argv, "fashion_mnist_crnn",
      "Trains Conv2D<32,3>, ReLU, MaxPool2D<2>, LSTM<256> (13 rows of 13x32 features), Dense<10> "
      "on Fashion-MNIST with Adam.");
}
