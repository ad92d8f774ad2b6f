// CSV files into Tables and Datasets (ctnn/data/csv.hpp): headers, column choice, separators,
// RFC 4180 quoting, gzip, and the refusal of missing, non-numeric and malformed input with the
// file, line and column.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <ctnn/data/csv.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/loss.hpp>
#include <ctnn/network.hpp>
#include <ctnn/optim/adam.hpp>
#include <ctnn/train.hpp>
#include <string>
#include <vector>

#include "files.hpp"

using ctnn_test::file_error;

using namespace ctnn;
using data::Column;
using data::CsvOptions;
using data::Task;

namespace {

std::string write_text(const ctnn_test::TempDir& dir, const std::string& name,
                       const std::string& text) {
  const std::string path = dir.file(name);
  ctnn_test::write_all(path, text);
  return path;
}

}  // namespace

TEST_CASE("read_csv: header, rows, lines and values") {
  ctnn_test::TempDir dir;
  const auto p = write_text(dir, "a.csv", "x,y,label\n1.5,-2,0\n\n3e2, +4 ,1\r\n5,6,2");
  const data::Table t = data::read_csv(p);
  CHECK(t.names == std::vector<std::string>{"x", "y", "label"});
  CHECK(t.rows == 3);
  CHECK(t.columns == 3);
  CHECK(t.values == std::vector<float>{1.5f, -2, 0, 300, 4, 1, 5, 6, 2});
  CHECK(t.lines == std::vector<std::size_t>{2, 4, 5});
}

TEST_CASE("load_csv: the label column by name, by index and from the end") {
  ctnn_test::TempDir dir;
  const auto p = write_text(dir, "a.csv", "label,x,y\n1,0.5,1.5\n0,2.5,3.5\n2,4,5\n");
  for (const Column& c : {Column("label"), Column(0), Column(-3)}) {
    const data::Dataset d = data::load_csv(p, {c});
    CHECK(d.sample_size == 2);
    CHECK(d.classes == 3);
    CHECK(d.labels == std::vector<std::int32_t>{1, 0, 2});
    CHECK(d.inputs == std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4, 5});
  }
  const data::Dataset r = data::load_csv(p, {"y", "label"}, Task::regression);
  CHECK(r.target_size == 2);
  CHECK(r.sample_size == 1);
  CHECK(r.targets == std::vector<float>{1.5f, 1, 3.5f, 0, 5, 2});
  CHECK(r.inputs == std::vector<float>{0.5f, 2.5f, 4});
  CHECK_THROWS_WITH_AS(data::load_csv(p, {"z"}), doctest::Contains("no column \"z\" among"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(data::load_csv(p, {3}), doctest::Contains("column 3 is outside"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(data::load_csv(p, {-4}), doctest::Contains("column -4 is outside"),
                       InvalidArgument);
  CHECK_THROWS_AS(data::load_csv(p, {0, -3}, Task::regression), InvalidArgument);  // twice
  CHECK_THROWS_AS(data::load_csv(p, {0, 1}), InvalidArgument);  // two label columns
  const auto bare = write_text(dir, "bare.csv", "1,0.5\n0,2.5\n");
  CHECK_THROWS_WITH_AS(data::load_csv(bare, {"label"}, Task::classification, {.header = false}),
                       doctest::Contains("has no header"), InvalidArgument);
  try {
    data::read_csv(write_text(dir, "e.csv", "a,b\n1,2\n3,x\n"));
    FAIL("no FileError");
  } catch (const FileError& e) {
    CHECK(e.line() == 3);
    CHECK(e.column() == 3);
  }
  // a label that is not a class index
  const auto q = write_text(dir, "b.csv", "x,label\n1,0\n2,1.5\n");
  CHECK(file_error([&] { data::load_csv(q, {-1}); }) ==
        q + ": line 3: the label 1.500000 of column 1 is not a class index (a whole number >= 0)");
  const auto n = write_text(dir, "n.csv", "x,label\n1,-1\n");
  CHECK_THROWS_AS(data::load_csv(n, {-1}), FileError);
}

TEST_CASE("read_csv: no header, skipped lines, other separators") {
  ctnn_test::TempDir dir;
  // scikit-learn's layout: a first line of counts and class names, then the data
  const auto s = write_text(dir, "s.csv", "2,2,yes,no\n1,2,0\n3,4,1\n");
  const data::Dataset d =
      data::load_csv(s, {-1}, Task::classification, {.header = false, .skip_lines = 1});
  CHECK(d.size() == 2);
  CHECK(d.inputs == std::vector<float>{1, 2, 3, 4});
  CHECK(d.labels == std::vector<std::int32_t>{0, 1});
  const auto w = write_text(dir, "w.txt", "  1 2\t3 \n4   5 6\n\n");
  const data::Table t = data::read_csv(w, {.separator = ' ', .header = false});
  CHECK(t.rows == 2);
  CHECK(t.values == std::vector<float>{1, 2, 3, 4, 5, 6});
  const auto sc = write_text(dir, "sc.csv", "a;b\n1,5;2\n");
  CHECK_THROWS_AS(data::read_csv(sc, {.separator = ';'}), FileError);  // 1,5 is no number
  const auto tab = write_text(dir, "t.tsv", "a\tb\n1\t2\n");
  CHECK(data::read_csv(tab, {.separator = '\t'}).values == std::vector<float>{1, 2});
}

TEST_CASE("read_csv: RFC 4180 quoted fields") {
  ctnn_test::TempDir dir;
  const auto p = write_text(dir, "q.csv",
                            "\xEF\xBB\xBF\"na,me\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
                            "\"1\",2,\"3\"\n4,5,6\n");
  const data::Table t = data::read_csv(p);
  CHECK(t.names == std::vector<std::string>{"na,me", "say \"hi\"", "two\nlines"});
  CHECK(t.values == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(t.lines == std::vector<std::size_t>{3, 4});
  const auto open = write_text(dir, "o.csv", "a,b\n1,\"2\n");
  CHECK(file_error([&] { data::read_csv(open); }) == open + ":2:3: the quoted field is not closed");
  const auto after = write_text(dir, "x.csv", "a,b\n1,\"2\"x\n");
  CHECK(file_error([&] { data::read_csv(after); }).find(":2:6: unexpected character after") !=
        std::string::npos);
  const auto inner = write_text(dir, "i.csv", "a,b\n1,2\"\n");
  CHECK(file_error([&] { data::read_csv(inner); }).find(":2:4: a quote inside an unquoted") !=
        std::string::npos);
}

TEST_CASE("read_csv: missing, non-numeric and malformed values are refused with line:column") {
  ctnn_test::TempDir dir;
  struct Case {
    std::string text, message;
  };
  const Case cases[] = {
      {"a,b,c\n1,2,3\n4,,6\n", ":3:3: field 2 (\"b\") is empty: missing values are not accepted"},
      {"a,b,c\n1,2,3\n4,5,\n", ":3:5: field 3 (\"c\") is empty"},
      {"a,b\n1,abc\n", ":2:3: field 2 (\"b\") \"abc\" is not a number"},
      {"a,b\n1,2x\n", ":2:3: field 2 (\"b\") \"2x\" is not a number"},
      {"a,b\n1,nan\n", ":2:3: field 2 (\"b\") \"nan\" is not a finite number"},
      {"a,b\n1,-inf\n", "is not a finite number"},
      {"a,b\n1,1e39\n", ":2:3: field 2 (\"b\") \"1e39\" is outside float's range"},
      {"a,b\n1,1e999\n", "is outside float's range"},
      {"a,b\n1,2\n3\n", ":3:1: 1 fields, but the header has 2"},
      {"1,2\n3,4,5\n", ":2:1: 3 fields, but the first record (line 1) has 2"},
      {"a,b\n", ": no data records"},
      {"", ": no header line"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const auto p = write_text(dir, "bad.csv", c.text);
    const bool header = c.text.rfind("1,2\n3", 0) != 0;
    const std::string m = file_error([&] { data::read_csv(p, {.header = header}); });
    CAPTURE(m);
    CHECK(m.rfind(p, 0) == 0);
    CHECK(m.find(c.message) != std::string::npos);
  }
}

TEST_CASE("read_csv: gzip'd files, and files that are not regular or too large") {
  const std::string dir = CTNN_TEST_DATA_DIR "/tables/";
  const data::Dataset d = data::load_csv(dir + "reg.csv.gz", {"target"}, Task::regression);
  CHECK(d.size() == 5);
  CHECK(d.target_size == 1);
  for (std::size_t k = 0; k < 5; ++k) {
    CHECK(d.inputs[2 * k] == float(k));
    CHECK(d.inputs[2 * k + 1] == float(2 * k));
    CHECK(d.targets[k] == float(3 * k + 1));
  }
  ctnn_test::TempDir tmp;
  auto gz = ctnn_test::read_all(dir + "reg.csv.gz");
  gz.resize(gz.size() - 12);  // cut inside the deflate stream's end and the trailer
  const auto cut = tmp.file("cut.csv.gz");
  ctnn_test::write_all(cut, gz);
  CHECK(file_error([&] { data::read_csv(cut); }).find("gzip") != std::string::npos);
  const auto fifo = tmp.file("fifo.csv");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(file_error([&] { data::read_csv(fifo); }).find("FIFO") != std::string::npos);
  CHECK(file_error([&] { data::read_csv(tmp.file("none.csv")); }).find("cannot open") !=
        std::string::npos);
  const auto big = write_text(tmp, "big.csv", "a\n1\n2\n3\n");
  CHECK(file_error([&] { data::read_csv(big, {.max_bytes = 4}); }).find("max_bytes") !=
        std::string::npos);
}

TEST_CASE("load_csv: a table trains a network, and its sample size is checked against it") {
  ctnn_test::TempDir dir;
  std::string text = "u,v,y\n";
  for (int i = 0; i < 40; ++i) {
    const float u = float(i % 7) / 7.0f, v = float(i % 5) / 5.0f;
    text += std::to_string(u) + "," + std::to_string(v) + "," + std::to_string(2 * u - v) + "\n";
  }
  const data::Dataset d = data::load_csv(write_text(dir, "r.csv", text), {"y"}, Task::regression);
  Sequential<Input<2>, Dense<1>> net(3);
  Adam adam(0.05f);
  FitOptions o;
  o.epochs = 80;
  o.batch_size = 8;
  o.threads = 1;
  o.progress = false;
  fit<MeanSquaredError>(net, adam, d, o);
  CHECK(evaluate<MeanSquaredError>(net, d).rmse < 0.01);
  Sequential<Input<3>, Dense<1>> wide(3);
  CHECK_THROWS_WITH_AS(fit<MeanSquaredError>(wide, adam, d, o),
                       "fit: samples have 2 floats, the network's input Vector<3> needs 3",
                       InvalidArgument);
  data::Table t = data::read_csv(write_text(dir, "r2.csv", text));
  CHECK_NOTHROW(data::check_sample_shape<Vector<3>>(t));
  using Row = Image<1, 2, 1>;
  CHECK_THROWS_WITH_AS(data::check_sample_shape<Row>(t),
                       doctest::Contains("the samples are 3 (3 floats), the network's input "
                                         "Image<1,2,1> needs 1 x 2 x 1 (2 floats)"),
                       InvalidArgument);
}
