// ctnn/error.hpp — the exceptions ctnn throws.
//
// Every run-time failure (bad file, bad argument, diverging training) is a ctnn::Error or one of
// its subclasses, so `catch (const ctnn::Error&)` catches everything the library throws on
// purpose. Messages name the file (where there is one), the field or offset, and what was
// expected.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace ctnn {

/// Base class of every exception ctnn throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file could not be opened, read or written, or its contents are malformed.
/// `path()` is the file's name as given by the caller.
class FileError : public Error {
 public:
  FileError(std::string path, const std::string& what)
      : Error(path + ": " + what), path_(std::move(path)) {}
  /// A fault at a place in a text file: "path:LINE:COLUMN: what" (1-based, as compilers write
  /// it); line() and column() give the place (0 for the other constructor).
  FileError(std::string path, std::size_t line, std::size_t column, const std::string& what)
      : Error(path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what),
        path_(std::move(path)),
        line_(line),
        column_(column) {}
  const std::string& path() const noexcept { return path_; }
  std::size_t line() const noexcept { return line_; }
  std::size_t column() const noexcept { return column_; }

 private:
  std::string path_;
  std::size_t line_ = 0, column_ = 0;
};

/// A model file belongs to another network type (its signature differs).
class SignatureMismatch : public FileError {
 public:
  using FileError::FileError;
};

/// A caller passed an argument outside the documented range (batch size 0, wrong data size, ...).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// Training produced a non-finite loss (NaN or infinity): the learning rate is usually too high.
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};

/// The processes of a distributed run disagree on a setting that decides the computation (the
/// data, the batch size, the optimizer's settings, ...; see check_agreement() in
/// collective.hpp). Thrown alike on every process of the group: setting() names the setting,
/// rank() is the lowest-numbered process whose value differs from process 0's, and
/// first_value() and other_value() are the two values as text.
class SettingMismatch : public Error {
 public:
  SettingMismatch(const std::string& what, std::string setting, std::size_t rank,
                  std::string first_value, std::string other_value)
      : Error(what),
        setting_(std::move(setting)),
        rank_(rank),
        first_value_(std::move(first_value)),
        other_value_(std::move(other_value)) {}
  const std::string& setting() const noexcept { return setting_; }
  std::size_t rank() const noexcept { return rank_; }
  const std::string& first_value() const noexcept { return first_value_; }
  const std::string& other_value() const noexcept { return other_value_; }

 private:
  std::string setting_;
  std::size_t rank_;
  std::string first_value_, other_value_;
};

}  // namespace ctnn
