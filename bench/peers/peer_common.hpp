// What the peer programs share: the output line, medians, and reading their command lines.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace peer {

/// Prints one figure as `network,measure,library,threads,median,unit` (what compare.sh reads).
inline void emit(const char* library, const std::string& net, const char* measure, int threads,
                 double value, const char* unit) {
  std::printf("%s,%s,%s,%d,%.2f,%s\n", net.c_str(), measure, library, threads, value, unit);
  std::fflush(stdout);
}

/// The median of v (the upper one for an even count).
inline double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

/// The non-empty items of a comma-separated list.
inline std::set<std::string> split(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.insert(item);
  return out;
}

/// Walks argv: `for (Args a(argc, argv); a.next();)`, then a.is("--flag") and a.value() for the
/// argument after it (exits with status 2 when it is missing).
class Args {
 public:
  Args(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool next() { return ++i_ < argc_; }
  const std::string& current() {
    arg_ = argv_[i_];
    return arg_;
  }
  bool is(const char* flag) { return current() == flag; }
  std::string value() {
    if (i_ + 1 >= argc_) {
      std::fprintf(stderr, "%s needs a value\n", argv_[i_]);
      std::exit(2);
    }
    return argv_[++i_];
  }
  int int_value() { return std::stoi(value()); }

 private:
  int argc_, i_ = 0;
  char** argv_;
  std::string arg_;
};

}  // namespace peer
