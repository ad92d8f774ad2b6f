// ctnn/data/csv.hpp — reading CSV files of numbers (plain or gzip'd) into Tables and Datasets.
//
// The format is RFC 4180's: records of fields separated by a separator (',' by default),
// records ended by LF or CR LF (a last record may lack it); a field may be enclosed in double
// quotes, and then holds separators, line breaks and doubled quotes ("") as text. Besides:
//   - separator ' ' means "runs of spaces and tabs", with leading and trailing blanks ignored
//     (the layout of whitespace-separated files such as numpy.savetxt's default);
//   - blank lines are skipped, a UTF-8 byte order mark at the start is ignored, and spaces and
//     tabs around an unquoted number are allowed;
//   - the first `skip_lines` lines are skipped as they are (e.g. scikit-learn's data files,
//     whose first line holds the sample and feature counts and the class names), then the first
//     record is the header of column names when `header` is set.
// Every field of the data records must be a number as std::from_chars reads it (decimal or
// scientific, an optional sign), finite and within float's range. An empty field (a missing
// value), text, NaN or infinity, and a record with another field count than the first, are
// refused with a FileError "path:LINE:COLUMN: ..." (1-based line and byte column of the field).
// A file that starts with gzip's magic bytes (.csv.gz) is decompressed through zlib.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "../error.hpp"
#include "dataset.hpp"
#include "idx.hpp"
#include "table.hpp"

namespace ctnn::data {

/// How read_csv reads a file.
struct CsvOptions {
  char separator = ',';        ///< ' ': runs of spaces and tabs
  bool header = true;          ///< the first record (after skip_lines) holds column names
  std::size_t skip_lines = 0;  ///< lines skipped before anything is parsed
  std::uint64_t max_bytes = std::uint64_t{1} << 31;  ///< larger (decompressed) files are refused
};

namespace detail {

/// The text of a file, gunzipped when it is gzip'd; at most `max_bytes` bytes, else FileError.
/// Refuses what is not a regular file (a FIFO, a directory) with FileError.
inline std::string read_text_file(const std::string& path, std::uint64_t max_bytes) {
  IdxByteSource src(path);
  std::string text;
  constexpr std::size_t chunk = std::size_t{1} << 16;
  for (;;) {
    const std::size_t at = text.size();
    if (at > max_bytes)
      throw FileError(
          path, "larger than " + std::to_string(max_bytes) + " bytes (CsvOptions::max_bytes)");
    text.resize(at + chunk);
    const std::size_t got = src.read(reinterpret_cast<std::uint8_t*>(text.data() + at), chunk);
    text.resize(at + got);
    if (got < chunk) break;
  }
  if (text.size() > max_bytes)
    throw FileError(path,
                    "larger than " + std::to_string(max_bytes) + " bytes (CsvOptions::max_bytes)");
  return text;
}

/// One field of a record: its text (unquoted) and where it began.
struct CsvField {
  std::string text;
  std::size_t line = 0, column = 0;
  bool quoted = false;
};

/// Splits CSV text into records of fields (see the header comment), tracking lines.
class CsvLexer {
 public:
  CsvLexer(const std::string& path, const std::string& text, char sep)
      : path_(path), s_(text), sep_(sep) {
    if (s_.compare(0, 3, "\xEF\xBB\xBF") == 0) pos_ = 3;
  }

  /// Skips n lines as they are.
  void skip_lines(std::size_t n) {
    for (std::size_t i = 0; i < n && pos_ < s_.size(); ++i) {
      const std::size_t nl = s_.find('\n', pos_);
      pos_ = nl == std::string::npos ? s_.size() : nl + 1;
      new_line();
    }
  }

  /// The next non-blank record into `out`; false at the end of the text.
  bool next(std::vector<CsvField>& out) {
    out.clear();
    for (;;) {
      if (pos_ >= s_.size()) return false;
      const std::size_t start = pos_;
      std::size_t p = pos_;
      if (sep_ == ' ')
        while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t')) ++p;
      if (p >= s_.size()) {
        pos_ = p;
        return false;
      }
      if (s_[p] == '\n' || s_[p] == '\r') {  // a blank line
        pos_ = p;
        end_of_line();
        continue;
      }
      pos_ = sep_ == ' ' ? p : start;
      break;
    }
    for (;;) {
      out.push_back(field());
      if (pos_ >= s_.size()) return true;
      const char c = s_[pos_];
      if (c == '\n' || c == '\r') {
        end_of_line();
        if (sep_ == ' ' && out.back().text.empty() && !out.back().quoted && out.size() > 1)
          out.pop_back();  // trailing blanks
        return true;
      }
      // c is the separator
      ++pos_;
      if (sep_ == ' ') {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
        if (pos_ >= s_.size() || s_[pos_] == '\n' || s_[pos_] == '\r') {
          if (pos_ < s_.size()) end_of_line();
          return true;
        }
      }
    }
  }

  [[noreturn]] void fail(std::size_t line, std::size_t column, const std::string& what) const {
    throw FileError(path_, line, column, what);
  }

 private:
  std::size_t column() const noexcept { return pos_ - line_start_ + 1; }
  void new_line() {
    ++line_;
    line_start_ = pos_;
  }
  void end_of_line() {  // at '\n' or '\r'
    if (s_[pos_] == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    new_line();
  }
  bool ends_field(char c) const {
    return c == '\n' || c == '\r' || (sep_ == ' ' ? c == ' ' || c == '\t' : c == sep_);
  }

  CsvField field() {
    CsvField f;
    f.line = line_;
    f.column = column();
    std::size_t p = pos_;
    if (sep_ != ' ')
      while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t') && s_[p] != sep_) ++p;
    if (p < s_.size() && s_[p] == '"') {
      f.quoted = true;
      f.column = p - line_start_ + 1;
      pos_ = p + 1;
      for (;;) {
        if (pos_ >= s_.size()) fail(f.line, f.column, "the quoted field is not closed");
        const char c = s_[pos_];
        if (c == '"') {
          if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '"') {
            f.text += '"';
            pos_ += 2;
            continue;
          }
          ++pos_;
          break;
        }
        if (c == '\n' || (c == '\r' && !(pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n'))) {
          f.text += c;
          ++pos_;
          new_line();
          continue;
        }
        f.text += c;
        ++pos_;
      }
      if (sep_ != ' ')
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t') && s_[pos_] != sep_)
          ++pos_;
      if (pos_ < s_.size() && !ends_field(s_[pos_]))
        fail(line_, column(), "unexpected character after the closing quote of a field");
      return f;
    }
    while (pos_ < s_.size() && !ends_field(s_[pos_])) {
      if (s_[pos_] == '"')
        fail(line_, column(), "a quote inside an unquoted field (quote the whole field)");
      f.text += s_[pos_++];
    }
    return f;
  }

  const std::string& path_;
  const std::string& s_;
  char sep_;
  std::size_t pos_ = 0, line_ = 1, line_start_ = 0;
};

/// The float of a field's text, or a FileError "path:L:C: ..." saying why not.
inline float csv_number(const CsvLexer& lex, const CsvField& f, std::size_t index,
                        const std::vector<std::string>& names) {
  const std::string which = "field " + std::to_string(index + 1) +
                            (index < names.size() ? " (\"" + names[index] + "\")" : std::string());
  std::size_t a = 0, b = f.text.size();
  while (a < b && (f.text[a] == ' ' || f.text[a] == '\t')) ++a;
  while (b > a && (f.text[b - 1] == ' ' || f.text[b - 1] == '\t')) --b;
  if (a == b) lex.fail(f.line, f.column, which + " is empty: missing values are not accepted");
  const char* first = f.text.data() + a;
  const char* last = f.text.data() + b;
  if (*first == '+' && last - first > 1 && first[1] != '-') ++first;
  double v = 0;
  const auto [end, ec] = std::from_chars(first, last, v);
  const std::string shown = f.text.substr(a, std::min<std::size_t>(b - a, 40));
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && end == last && std::isfinite(v) &&
       std::abs(v) > std::numeric_limits<float>::max()))
    lex.fail(f.line, f.column, which + " \"" + shown + "\" is outside float's range");
  if (ec != std::errc() || end != last)
    lex.fail(f.line, f.column, which + " \"" + shown + "\" is not a number");
  if (!std::isfinite(v))
    lex.fail(f.line, f.column,
             which + " \"" + shown + "\" is not a finite number (NaN and infinity are refused)");
  return static_cast<float>(v);
}

}  // namespace detail

/// Reads a CSV file of numbers (gzip'd or not; see the header comment for the format) into a
/// Table: its column names when options.header is set, every data record as a row of floats,
/// and the line of each row. Throws FileError naming the file (and "LINE:COLUMN" for a bad
/// field or record): it cannot be opened or is not a regular file (a FIFO, a directory), its
/// gzip stream is corrupt or cut off, it is larger than options.max_bytes, a quote is not
/// closed, a record has another field count than the first, a field is empty, not a number, not
/// finite or beyond float's range, or it holds no data record.
inline Table read_csv(const std::string& path, const CsvOptions& options = {}) {
  if (options.separator == '"' || options.separator == '\n' || options.separator == '\r')
    throw InvalidArgument("read_csv: the separator cannot be a quote or a line break");
  const std::string text = detail::read_text_file(path, options.max_bytes);
  detail::CsvLexer lex(path, text, options.separator);
  lex.skip_lines(options.skip_lines);
  Table t;
  t.path = path;
  std::vector<detail::CsvField> rec;
  std::size_t width_line = 0;
  if (options.header) {
    if (!lex.next(rec)) throw FileError(path, "no header line");
    for (auto& f : rec) {
      std::string name = f.text;
      if (!f.quoted) {
        const auto a = name.find_first_not_of(" \t"), b = name.find_last_not_of(" \t");
        name = a == std::string::npos ? std::string() : name.substr(a, b - a + 1);
      }
      t.names.push_back(std::move(name));
    }
    t.columns = t.names.size();
    width_line = rec.front().line;
  }
  while (lex.next(rec)) {
    if (t.columns == 0) {
      t.columns = rec.size();
      width_line = rec.front().line;
    }
    if (rec.size() != t.columns)
      lex.fail(
          rec.front().line, 1,
          std::to_string(rec.size()) + " fields, but " +
              (options.header ? "the header has "
                              : "the first record (line " + std::to_string(width_line) + ") has ") +
              std::to_string(t.columns));
    for (std::size_t i = 0; i < rec.size(); ++i)
      t.values.push_back(detail::csv_number(lex, rec[i], i, t.names));
    t.lines.push_back(rec.front().line);
    ++t.rows;
  }
  if (t.rows == 0) throw FileError(path, "no data records");
  t.sample_shape = {t.columns};
  return t;
}

/// The Dataset of a CSV file: read_csv(path, options), then to_dataset(table, targets, task):
/// the `targets` columns (by name or index, -1 the last) hold the class index (classification:
/// one column) or the target values (regression), the other columns are the features. Throws as
/// read_csv and to_dataset.
inline Dataset load_csv(const std::string& path, const std::vector<Column>& targets,
                        Task task = Task::classification, const CsvOptions& options = {}) {
  return to_dataset(read_csv(path, options), targets, task);
}

}  // namespace ctnn::data
