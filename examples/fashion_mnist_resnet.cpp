// Trains a small ResNet (a convolution stem, three stages of two residual blocks with
// BatchNorm, global average pooling, Dense<10>) on Fashion-MNIST and prints its test accuracy.
// Its defaults are the recipe that takes it past 0.94: 30 epochs, a cosine schedule, shifted and
// mirrored training images and AdamW with weight decay 0.05 (docs/training.md).
//
//   fashion_mnist_resnet [--data-dir DIR] [--epochs N] [--batch-size N] [--lr X] [--threads N]
//                        [--seed N] [--save PATH] [--schedule S] [--augment LIST] ...
#include "networks.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  examples::Options recipe;
  recipe.epochs = 30;
  recipe.schedule = "cosine";
  recipe.augment.shift = 2;
  recipe.augment.hflip = true;
  recipe.weight_decay = 0.05f;
  return examples::run_classifier<examples::FashionResNet>(
      argc, argv, "fashion_mnist_resnet",
      "Trains a small ResNet (Conv2D 16 stem; three stages of two residual blocks of 16, 32 and "
      "64 filters with BatchNorm; GlobalAvgPool2D; Dense<10>) on Fashion-MNIST with AdamW.",
      false, recipe);
}
