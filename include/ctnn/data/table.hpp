// ctnn/data/table.hpp — tables of numbers (rows of samples) and the Datasets made of them: the
// common ground of the CSV reader (data/csv.hpp) and the NumPy reader (data/npy.hpp).
//
// A Table holds `rows` rows of `columns` floats, row-major; each row is one sample. A Table read
// from a CSV file has the file's column names (when it has a header) and the line of each row,
// so that a bad value can be named by file and line; one read from a NumPy array has the shape
// of each sample (the array's dimensions after the first), so that it can be checked against a
// network's input shape.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../shape.hpp"
#include "dataset.hpp"

namespace ctnn::data {

/// What the target column(s) of a table are: class indices (integers 0, 1, ...: a
/// classification set with labels) or real values (a regression set with targets).
enum class Task { classification, regression };

/// A column of a Table, chosen by name (the CSV file's header) or by index: 0 is the first
/// column, -1 the last, -2 the one before it, and so on.
class Column {
 public:
  Column(int index) : index_(index) {}  // NOLINT: implicit, so that {-1} selects the last column
  Column(const char* name) : name_(name), by_name_(true) {}             // NOLINT
  Column(std::string name) : name_(std::move(name)), by_name_(true) {}  // NOLINT

  bool by_name() const noexcept { return by_name_; }
  const std::string& name() const noexcept { return name_; }
  long index() const noexcept { return index_; }
  /// "column \"name\"" or "column 3".
  std::string describe() const {
    return by_name_ ? "column \"" + name_ + "\"" : "column " + std::to_string(index_);
  }

 private:
  std::string name_;
  long index_ = 0;
  bool by_name_ = false;
};

/// Rows of numbers read from a file. `values` holds rows x columns floats, row-major.
struct Table {
  std::string path;  ///< the file it was read from (for messages)
  std::size_t rows = 0, columns = 0;
  std::vector<float> values;       ///< rows * columns floats
  std::vector<std::string> names;  ///< the column names (a CSV header), or empty
  std::vector<std::size_t> lines;  ///< the 1-based line of each row in a CSV file, or empty
  /// The dimensions of one row as the file states them (a NumPy array's shape after its first
  /// dimension: {28, 28} for 28x28 images), or {columns} when the file states none.
  std::vector<std::size_t> sample_shape;

  /// The 0-based index of column `c`. Throws InvalidArgument naming the file when the name is
  /// not in the header (or there is no header) or the index is outside [-columns, columns).
  std::size_t index_of(const Column& c) const {
    if (c.by_name()) {
      if (names.empty())
        throw InvalidArgument(path + ": the table has no header, so " + c.describe() +
                              " cannot be found; choose the column by its index");
      for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == c.name()) return i;
      std::string all;
      for (const auto& n : names) all += (all.empty() ? "\"" : ", \"") + n + "\"";
      throw InvalidArgument(path + ": no " + c.describe() + " among the columns " + all);
    }
    const long n = static_cast<long>(columns);
    if (c.index() < -n || c.index() >= n)
      throw InvalidArgument(path + ": " + c.describe() + " is outside the table's " +
                            std::to_string(columns) + " columns (indices " + std::to_string(-n) +
                            " to " + std::to_string(n - 1) + ")");
    return static_cast<std::size_t>(c.index() < 0 ? c.index() + n : c.index());
  }
};

namespace detail {

/// Sets d.labels (classification) or d.targets (regression) from `count` columns of table t
/// taken at `cols`. Labels must be whole numbers in [0, 2^31 - 1); classes is the largest + 1.
inline void set_targets(Dataset& d, const Table& t, const std::vector<std::size_t>& cols,
                        Task task) {
  if (task == Task::regression) {
    d.target_size = cols.size();
    d.targets.reserve(t.rows * cols.size());
    for (std::size_t r = 0; r < t.rows; ++r)
      for (std::size_t c : cols) d.targets.push_back(t.values[r * t.columns + c]);
    return;
  }
  if (cols.size() != 1)
    throw InvalidArgument(t.path + ": a classification set takes one label column, not " +
                          std::to_string(cols.size()));
  d.labels.reserve(t.rows);
  std::int32_t top = -1;
  for (std::size_t r = 0; r < t.rows; ++r) {
    const float v = t.values[r * t.columns + cols[0]];
    if (!(v >= 0.0f && v < 2147483520.0f && std::floor(v) == v))
      throw FileError(
          t.path,
          (t.lines.empty() ? "row " + std::to_string(r) : "line " + std::to_string(t.lines[r])) +
              ": the label " + std::to_string(v) + " of column " + std::to_string(cols[0]) +
              " is not a class index (a whole number >= 0)");
    d.labels.push_back(static_cast<std::int32_t>(v));
    top = std::max(top, d.labels.back());
  }
  d.classes = static_cast<std::size_t>(top) + 1;
}

}  // namespace detail

/// The Dataset of a table whose `targets` columns hold each sample's label (Task::classification:
/// exactly one column of class indices 0, 1, ...; classes = the largest + 1) or target values
/// (Task::regression: one or several columns, in the order given); every other column is a
/// feature, in the table's order. Throws InvalidArgument for a column that is not in the table,
/// given twice, or for no feature left; FileError naming the file and line (or row) for a label
/// that is not a whole number >= 0.
inline Dataset to_dataset(const Table& t, const std::vector<Column>& targets, Task task) {
  if (targets.empty()) throw InvalidArgument(t.path + ": no label or target column given");
  std::vector<bool> is_target(t.columns, false);
  std::vector<std::size_t> cols;
  for (const Column& c : targets) {
    const std::size_t i = t.index_of(c);
    if (is_target[i])
      throw InvalidArgument(t.path + ": " + c.describe() + " is given twice as a target");
    is_target[i] = true;
    cols.push_back(i);
  }
  Dataset d;
  d.sample_size = t.columns - cols.size();
  if (d.sample_size == 0)
    throw InvalidArgument(t.path + ": no feature column is left besides the targets");
  d.inputs.reserve(t.rows * d.sample_size);
  for (std::size_t r = 0; r < t.rows; ++r)
    for (std::size_t c = 0; c < t.columns; ++c)
      if (!is_target[c]) d.inputs.push_back(t.values[r * t.columns + c]);
  detail::set_targets(d, t, cols, task);
  return d;
}

/// The Dataset whose features are the rows of `features` and whose labels or targets are the
/// rows of `targets` (every column of it: one column of class indices for a classification set,
/// one or several values for a regression set), e.g. two NumPy arrays x and y, or a table and
/// the file of its targets. Throws InvalidArgument when the two tables have different row
/// counts (naming both files and counts), and as to_dataset(table, columns, task).
inline Dataset to_dataset(const Table& features, const Table& targets, Task task) {
  if (features.rows != targets.rows)
    throw InvalidArgument(features.path + " has " + std::to_string(features.rows) + " rows but " +
                          targets.path + " has " + std::to_string(targets.rows) +
                          ": the features and the targets must have one row per sample");
  if (features.columns == 0 || targets.columns == 0)
    throw InvalidArgument(features.path + ", " + targets.path + ": a table has no columns");
  Dataset d;
  d.sample_size = features.columns;
  d.inputs = features.values;
  std::vector<std::size_t> cols(targets.columns);
  for (std::size_t c = 0; c < cols.size(); ++c) cols[c] = c;
  detail::set_targets(d, targets, cols, task);
  return d;
}

/// Checks that the samples of table t fit the network input shape S: their number of floats
/// equals S's size and, when the file states a sample shape of more than one dimension, that
/// shape is S's dimensions (Image<H, W, C>: H x W x C, or H x W for C = 1; Sequence<T, F>:
/// T x F); a Vector takes any shape of its size, flattened. Catches channels-first images
/// (C x H x W) given to a channels-last network. Throws InvalidArgument naming the file and both
/// shapes.
template <class S>
void check_sample_shape(const Table& t) {
  std::vector<std::size_t> want;
  if constexpr (is_image_v<S>)
    want = {S::height, S::width, S::channels};
  else if constexpr (is_sequence_v<S>)
    want = {S::steps, S::features};
  else
    want = {S::size};
  std::vector<std::size_t> have =
      t.sample_shape.empty() ? std::vector<std::size_t>{t.columns} : t.sample_shape;
  auto text = [](const std::vector<std::size_t>& v) {
    std::string s;
    for (std::size_t x : v) s += (s.empty() ? "" : " x ") + std::to_string(x);
    return s;
  };
  const bool sizes = t.columns == S::size;
  bool fits = sizes && (have.size() == 1 || is_vector_v<S> || have == want);
  if constexpr (is_image_v<S>)
    if (S::channels == 1 && have == std::vector<std::size_t>{S::height, S::width}) fits = sizes;
  if (!fits)
    throw InvalidArgument(t.path + ": the samples are " + text(have) + " (" +
                          std::to_string(t.columns) + " floats), the network's input " + S::name() +
                          " needs " + text(want) + " (" + std::to_string(S::size) + " floats)");
}

}  // namespace ctnn::data
