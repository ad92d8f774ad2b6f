// Trains a recurrent classifier on Fashion-MNIST, reading each image row by row (28 steps of 28
// pixels), and prints its test accuracy. --cell gru selects a GRU instead of the LSTM.
//
//   fashion_mnist_lstm [--cell lstm|gru] [--data-dir DIR] [--epochs N] [--batch-size N] [--lr X]
//                      [--threads N] [--seed N] [--save PATH]
#include <cstring>

#include "networks.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  // --cell is this example's own flag; the rest are the classifiers' common ones.
  bool gru = false;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cell") == 0 && i + 1 < argc) {
      const std::string cell = argv[++i];
      if (cell != "lstm" && cell != "gru") {
        std::cerr << argv[0] << ": --cell takes lstm or gru, not '" << cell << "'\n";
        return 2;
      }
      gru = cell == "gru";
    } else {
      rest.push_back(argv[i]);
    }
  }
  const char* what =
      "Trains Input<28,28,1> -> LSTM<128> (or GRU<128> with --cell gru) -> Dense<10> on "
      "Fashion-MNIST, rows as time steps (pixels standardised with the training set's mean and "
      "standard deviation), with Adam.\n  --cell lstm|gru    recurrent cell "
      "(default lstm)";
  const int n = static_cast<int>(rest.size());
  return gru ? examples::run_classifier<examples::FashionGru>(n, rest.data(), "fashion_mnist_gru",
                                                              what, true)
             : examples::run_classifier<examples::FashionLstm>(n, rest.data(), "fashion_mnist_lstm",
                                                               what, true);
}
