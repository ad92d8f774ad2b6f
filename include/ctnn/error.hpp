// ctnn/error.hpp — the exceptions ctnn throws.
//
// Every run-time failure (bad file, bad argument, diverging training) is a ctnn::Error or one of
// its subclasses, so `catch (const ctnn::Error&)` catches everything the library throws on
// purpose. Messages name the file (where there is one), the field or offset, and what was
// expected.
#pragma once

#include <stdexcept>
#include <string>

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
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
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

}  // namespace ctnn
