// Tables rather than images: small dense networks trained on the CSV files that Debian's
// python3-sklearn ships (read by ctnn's own CSV reader, not by Python), each split 75/25 into
// training and test samples, the features standardised with the training split's mean and std:
//   breast_cancer  569 tumours, 30 measurements, malignant or benign (classification)
//   wine           178 wines, 13 measurements, 3 cultivars (classification)
//   diabetes       442 patients, 10 measurements, disease progression a year later
//                  (regression: a linear network, which is a linear regression fitted by
//                  gradient descent, and a network with one hidden layer)
// scikit-learn's breast_cancer.csv and wine_data.csv begin with a line of their own (the sample
// and feature counts, then the class names), skipped here; the class is the last column. The
// diabetes features and targets are two gzip'd whitespace-separated files without a header.
//
//   tabular [--data-dir DIR] [--set breast_cancer|wine|diabetes|all] [--epochs N] [--seed N]
//           [--threads N] [--check]
// DIR defaults to /usr/lib/python3/dist-packages/sklearn/datasets/data (apt-get install
// python3-sklearn). Exits with status 1 when a file cannot be read; with --check (the test
// suite's run), with status 3 when a classifier's test accuracy is below 0.9 or a regression
// network's test RMSE is not below that of predicting the training mean.
#include <cmath>
#include <cstdlib>
#include <ctnn/ctnn.hpp>
#include <iomanip>
#include <iostream>
#include <string>

namespace {

struct Args {
  std::string dir = "/usr/lib/python3/dist-packages/sklearn/datasets/data";
  std::string set = "all";
  std::size_t epochs = 0;  // 0: each set's own default
  std::uint64_t seed = 1;
  std::size_t threads = 0;
  bool check = false;
};

int failures = 0;  // --check: results below the bar

void expect(const Args& a, bool ok, const std::string& what) {
  if (a.check && !ok) {
    std::cerr << "tabular --check: " << what << "\n";
    ++failures;
  }
}

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "tabular: " << problem
            << "\nusage: tabular [--data-dir DIR] [--set breast_cancer|wine|diabetes|all] "
               "[--epochs N] [--seed N] [--threads N]\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") usage("trains small networks on scikit-learn's tables");
    if (k == "--check") {
      a.check = true;
      continue;
    }
    if (i + 1 >= argc) usage(k + " needs a value");
    const std::string v = argv[++i];
    try {
      if (k == "--data-dir")
        a.dir = v;
      else if (k == "--set")
        a.set = v;
      else if (k == "--epochs")
        a.epochs = std::stoul(v);
      else if (k == "--seed")
        a.seed = std::stoull(v);
      else if (k == "--threads")
        a.threads = std::stoul(v);
      else
        usage("unknown option " + k);
    } catch (const std::logic_error&) {
      usage("the value of " + k + " is not a number: " + v);
    }
  }
  if (a.set != "all" && a.set != "breast_cancer" && a.set != "wine" && a.set != "diabetes")
    usage("unknown set " + a.set);
  return a;
}

ctnn::FitOptions options(const Args& a, std::size_t epochs, const ctnn::data::Dataset* test) {
  ctnn::FitOptions o;
  o.epochs = a.epochs ? a.epochs : epochs;
  o.batch_size = 32;
  o.seed = a.seed;
  o.threads = a.threads;
  o.progress = false;
  o.test = test;
  return o;
}

/// A classification set: scikit-learn's layout (a first line of counts and class names, the
/// class in the last column), split with each class's share kept, features standardised.
template <std::size_t Features, std::size_t Classes>
void classify(const Args& a, const std::string& name, std::size_t epochs) {
  const std::string path = a.dir + "/" + name + ".csv";
  const ctnn::data::Dataset all = ctnn::data::load_csv(path, {-1}, ctnn::data::Task::classification,
                                                       {.header = false, .skip_lines = 1});
  auto [train, test] = ctnn::data::stratified_split(all, 0.25, a.seed);
  const auto scaling = ctnn::data::Standardization::of_inputs(train);
  scaling.apply_to_inputs(train);
  scaling.apply_to_inputs(test);

  using Net =
      ctnn::Sequential<ctnn::Input<Features>, ctnn::Dense<32>, ctnn::ReLU, ctnn::Dense<Classes>>;
  Net net(a.seed);
  ctnn::Adam adam(1e-3f);
  const auto reports = ctnn::fit(net, adam, train, options(a, epochs, &test));
  std::cout << std::fixed << std::setprecision(4) << name << ": " << all.size() << " samples of "
            << Features << " features, " << Classes << " classes; " << train.size() << " to train, "
            << test.size() << " to test; after " << reports.size() << " epochs test accuracy "
            << reports.back().test_accuracy << ", test loss " << reports.back().test_loss << "\n";
  expect(a, reports.back().test_accuracy >= 0.9, name + ": test accuracy below 0.9");
}

/// The RMSE and MAE on `test` of a network trained on standardised targets, in the targets'
/// own units (the standardisation's std times the standardised errors).
template <class Net>
void regress(const Args& a, const std::string& what, double baseline,
             const ctnn::data::Dataset& train, const ctnn::data::Dataset& test, double target_std,
             std::size_t epochs, float lr) {
  Net net(a.seed);
  ctnn::Adam adam(lr);
  ctnn::fit<ctnn::MeanSquaredError>(net, adam, train, options(a, epochs, nullptr));
  const ctnn::Evaluation e = ctnn::evaluate<ctnn::MeanSquaredError>(net, test);
  std::cout << std::fixed << std::setprecision(1) << "  " << what << ": test RMSE "
            << e.rmse * target_std << ", MAE " << e.mae * target_std << "\n";
  expect(a, e.rmse * target_std < baseline, what + ": no better than predicting the mean");
}

void diabetes(const Args& a) {
  const ctnn::data::Table x = ctnn::data::read_csv(a.dir + "/diabetes_data_raw.csv.gz",
                                                   {.separator = ' ', .header = false});
  const ctnn::data::Table y =
      ctnn::data::read_csv(a.dir + "/diabetes_target.csv.gz", {.header = false});
  const ctnn::data::Dataset all = ctnn::data::to_dataset(x, y, ctnn::data::Task::regression);
  auto [train, test] = ctnn::data::random_split(all, 0.25, a.seed);
  const auto inputs = ctnn::data::Standardization::of_inputs(train);
  const auto targets = ctnn::data::Standardization::of_targets(train);
  for (ctnn::data::Dataset* d : {&train, &test}) {
    inputs.apply_to_inputs(*d);
    targets.apply_to_targets(*d);
  }
  double spread = 0;  // the test targets' std: the RMSE of always predicting their mean
  for (std::size_t i = 0; i < test.size(); ++i) spread += double(test.targets[i]) * test.targets[i];
  const double baseline = std::sqrt(spread / double(test.size())) * targets.std[0];
  std::cout << "diabetes: " << all.size() << " samples of 10 features, one target (disease "
            << "progression, " << std::fixed << std::setprecision(1) << targets.mean[0] << " +- "
            << targets.std[0] << " in the training split); " << train.size() << " to train, "
            << test.size() << " to test; predicting the training mean gives "
            << "test RMSE " << baseline << "\n";
  using Linear = ctnn::Sequential<ctnn::Input<10>, ctnn::Dense<1>>;
  using Hidden = ctnn::Sequential<ctnn::Input<10>, ctnn::Dense<16>, ctnn::ReLU, ctnn::Dense<1>>;
  regress<Linear>(a, "linear (Dense<1>)", baseline, train, test, targets.std[0], 200, 1e-2f);
  regress<Hidden>(a, "Dense<16>, ReLU, Dense<1>", baseline, train, test, targets.std[0], 30, 3e-3f);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    if (a.set == "all" || a.set == "breast_cancer") classify<30, 2>(a, "breast_cancer", 60);
    if (a.set == "all" || a.set == "wine") classify<13, 3>(a, "wine_data", 100);
    if (a.set == "all" || a.set == "diabetes") diabetes(a);
  } catch (const ctnn::Error& e) {
    std::cerr << "tabular: " << e.what() << "\n";
    if (dynamic_cast<const ctnn::FileError*>(&e))
      std::cerr << "(the data files come with Debian's python3-sklearn: "
                   "apt-get install python3-sklearn, or give --data-dir)\n";
    return 1;
  }
  return failures == 0 ? 0 : 3;
}
