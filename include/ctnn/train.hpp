// ctnn/train.hpp — fit() and evaluate(): mini-batch training and evaluation on a Dataset or a
// SampleStream. This header gathers the parts, each in include/ctnn/train/ (docs/training.md):
//
//   reports.hpp        EpochReport, BatchReport, TrainingControl, Evaluation
//   train/options.hpp  FitOptions
//   train/checks.hpp   the checks of the data (sample size, labels, finite inputs)
//   train/settings.hpp what the processes of a distributed run compare
//   train/source.hpp   the one way samples are read, from a Dataset or a SampleStream
//   train/evaluate.hpp evaluate()
//   train/reducer.hpp  the gradient reduction: worker sums, buckets across processes, clipping
//   train/trainer.hpp  Trainer: one optimizer step
//   train/progress.hpp ProgressLine and EpochLog, the callbacks fit() installs by default
//   train/fit.hpp      fit()
//
// Data parallelism: each batch is split into `threads` contiguous shares; every thread runs
// forward and backward on its share with its own workspace and gradient array, and the
// gradients are summed in thread order into one array before the optimizer step. The same seed
// and thread count therefore give bit-identical training; different thread counts agree to
// within float reassociation, except for layers whose forward pass depends on the batch
// (BatchNorm normalises over each thread's share).
#pragma once

#include "reports.hpp"
#include "train/evaluate.hpp"
#include "train/fit.hpp"
#include "train/options.hpp"
#include "train/progress.hpp"
#include "train/trainer.hpp"
