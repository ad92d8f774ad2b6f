// ctnn/io/detail/metadata_json.hpp — a Metadata written and read as JSON with nlohmann-json.
// Included by metadata_io.hpp, inline by default; see json_linkage.hpp for compiling it once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../../error.hpp"
#include "json_reader.hpp"
#include "metadata_io.hpp"

namespace ctnn::io::detail {

/// What a metadata text may hold: see JsonLimits. Class names are the most values.
inline constexpr JsonLimits metadata_json_limits{4, max_class_names + 4096};

inline nlohmann::json preprocessing_to_json(const Preprocessing& p) {
  nlohmann::json mean = nlohmann::json::array(), std = nlohmann::json::array();
  for (std::size_t c = 0; c < p.channels && c < 3; ++c) {
    mean.push_back(static_cast<double>(p.mean[c]));
    std.push_back(static_cast<double>(p.std[c]));
  }
  return nlohmann::json{{"channels", p.channels}, {"height", p.height},
                        {"width", p.width},       {"scale", static_cast<double>(p.scale)},
                        {"mean", mean},           {"std", std},
                        {"invert", p.invert}};
}

/// The text of `j`; InvalidArgument when a string in it is not valid UTF-8.
inline std::string dump_checked(const nlohmann::json& j, const std::string& what) {
  try {
    return j.dump();
  } catch (const nlohmann::json::type_error&) {
    throw InvalidArgument("metadata: " + what + " holds a string that is not valid UTF-8");
  }
}

inline void check_writable(const Metadata& m) {
  if (const std::string why = metadata_problem(m); !why.empty())
    throw InvalidArgument("metadata: " + why);
}

CTNN_JSON_FUNCTION std::string metadata_json(const Metadata& m) {
  check_writable(m);
  nlohmann::json j = nlohmann::json::object();
  if (!m.class_names.empty()) j["class_names"] = m.class_names;
  if (m.preprocessing) j["preprocessing"] = preprocessing_to_json(*m.preprocessing);
  if (!m.values.empty()) j["values"] = m.values;
  std::string text = dump_checked(j, "a class name, key or value");
  if (text.size() > max_metadata_bytes)
    throw InvalidArgument("metadata: its JSON text has " + std::to_string(text.size()) +
                          " bytes, more than the " + std::to_string(max_metadata_bytes) +
                          " a file holds");
  return text;
}

CTNN_JSON_FUNCTION std::map<std::string, std::string> metadata_entries(const Metadata& m) {
  check_writable(m);
  std::map<std::string, std::string> out = m.values;
  if (!m.class_names.empty())
    out["ctnn_class_names"] = dump_checked(nlohmann::json(m.class_names), "a class name");
  if (m.preprocessing) out["ctnn_preprocessing"] = preprocessing_to_json(*m.preprocessing).dump();
  for (const auto& [key, value] : out)
    if (key.size() + value.size() > max_metadata_bytes)
      throw InvalidArgument("metadata: '" + key.substr(0, 200) + "' has more than the " +
                            std::to_string(max_metadata_bytes) + " bytes a file holds");
  // Free-form strings are checked as the safetensors header is written.
  dump_checked(nlohmann::json(m.values), "a free-form key or value");
  return out;
}

/// Reads metadata JSON of one file, every failure a FileError naming the file and `where`.
class MetadataReader {
 public:
  MetadataReader(const std::string& path, std::string where)
      : path_(path), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& why) const { throw FileError(path_, where_ + why); }

  nlohmann::json parse(const std::vector<unsigned char>& text) const {
    if (text.size() > max_metadata_bytes)
      fail(std::to_string(text.size()) + " bytes, more than the " +
           std::to_string(max_metadata_bytes) + " accepted");
    nlohmann::json j;
    const JsonProblem problem = parse_json(text, metadata_json_limits, j);
    switch (problem.kind) {
      case JsonProblem::none:
        return j;
      case JsonProblem::syntax: {
        // The parser's message quotes the file: at most max_quoted characters of it.
        std::string what = problem.message;
        if (what.size() > 300) what = what.substr(0, 300) + "...";
        fail("not valid JSON (UTF-8): " + what);
      }
      case JsonProblem::duplicate:
        fail("the key '" + problem.key.substr(0, 200) + "' appears twice");
      case JsonProblem::too_deep:
        fail("nested deeper than " + std::to_string(metadata_json_limits.max_depth) + " levels");
      case JsonProblem::too_many:
        fail("more than " + std::to_string(metadata_json_limits.max_values) + " JSON values");
    }
    return j;
  }

  std::vector<std::string> class_names(const nlohmann::json& j) const {
    if (!j.is_array()) fail("the class names are not a JSON array");
    std::vector<std::string> names;
    for (const auto& n : j) {
      if (!n.is_string()) fail("class name " + std::to_string(names.size()) + " is not a string");
      names.push_back(n.get<std::string>());
    }
    return names;
  }

  Preprocessing preprocessing(const nlohmann::json& j) const {
    if (!j.is_object()) fail("the preprocessing is not a JSON object");
    Preprocessing p;
    const auto size = [&](const char* key, std::size_t& out) {
      const auto it = j.find(key);
      if (it == j.end()) fail(std::string("the preprocessing has no ") + key);
      if (!it->is_number_unsigned() || it->get<std::uint64_t>() > max_image_side)
        fail(std::string("the preprocessing's ") + key + " is not a whole number in [0, " +
             std::to_string(max_image_side) + "]");
      out = it->get<std::size_t>();
    };
    size("channels", p.channels);
    size("height", p.height);
    size("width", p.width);
    if (p.channels != 1 && p.channels != 3)
      fail("preprocessing: channels " + std::to_string(p.channels) + ", must be 1 or 3");
    for (const auto& item : j.items()) {
      const std::string& key = item.key();
      const nlohmann::json& v = item.value();
      if (key == "channels" || key == "height" || key == "width") continue;
      if (key == "scale") {
        if (!v.is_number()) fail("the preprocessing's scale is not a number");
        p.scale = static_cast<float>(v.get<double>());
      } else if (key == "mean" || key == "std") {
        if (!v.is_array() || v.size() != p.channels)
          fail("the preprocessing's " + key + " is not an array of " + std::to_string(p.channels) +
               " numbers, one per channel");
        for (std::size_t c = 0; c < p.channels; ++c) {
          if (!v[c].is_number()) fail("the preprocessing's " + key + " holds a non-number");
          (key == "mean" ? p.mean : p.std)[c] = static_cast<float>(v[c].get<double>());
        }
      } else if (key == "invert") {
        if (!v.is_boolean()) fail("the preprocessing's invert is not true or false");
        p.invert = v.get<bool>();
      } else {
        fail("the preprocessing has an unknown member '" + key.substr(0, 200) + "'");
      }
    }
    return p;
  }

  void check(const Metadata& m) const {
    if (const std::string why = metadata_problem(m); !why.empty()) fail(why);
  }

 private:
  const std::string& path_;
  std::string where_;
};

inline std::vector<unsigned char> bytes_of(const std::string& s) {
  return std::vector<unsigned char>(s.begin(), s.end());
}

inline Metadata metadata_from_json_text(const std::string& path,
                                        const std::vector<unsigned char>& text) {
  const MetadataReader r(path, "the metadata section: ");
  const nlohmann::json j = r.parse(text);
  if (!j.is_object()) r.fail("not a JSON object");
  Metadata m;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const nlohmann::json& v = item.value();
    if (key == "class_names") {
      m.class_names = r.class_names(v);
    } else if (key == "preprocessing") {
      m.preprocessing = r.preprocessing(v);
    } else if (key == "values") {
      if (!v.is_object()) r.fail("the values are not a JSON object");
      for (const auto& e : v.items()) {
        if (!e.value().is_string())
          r.fail("value '" + e.key().substr(0, 200) + "' is not a string");
        m.values.emplace(e.key(), e.value().get<std::string>());
      }
    } else {
      r.fail("unknown member '" + key.substr(0, 200) + "'");
    }
  }
  r.check(m);
  return m;
}

inline Metadata metadata_from_entries_of(const std::string& path,
                                         const std::map<std::string, std::string>& entries) {
  Metadata m;
  for (const auto& [key, value] : entries) {
    if (key == "ctnn_class_names") {
      const MetadataReader r(path, "__metadata__: ctnn_class_names: ");
      m.class_names = r.class_names(r.parse(bytes_of(value)));
    } else if (key == "ctnn_preprocessing") {
      const MetadataReader r(path, "__metadata__: ctnn_preprocessing: ");
      m.preprocessing = r.preprocessing(r.parse(bytes_of(value)));
    } else if (key != "format" && !key.starts_with("ctnn_")) {
      m.values.emplace(key, value);
    }
  }
  MetadataReader(path, "__metadata__: ").check(m);
  return m;
}

CTNN_JSON_FUNCTION Metadata metadata_from_json(const std::string& path,
                                               const std::vector<unsigned char>& text) {
  try {
    return metadata_from_json_text(path, text);
  } catch (const std::bad_alloc&) {
    throw FileError(path, "out of memory reading the metadata section");
  }
}

CTNN_JSON_FUNCTION Metadata
metadata_from_entries(const std::string& path, const std::map<std::string, std::string>& entries) {
  try {
    return metadata_from_entries_of(path, entries);
  } catch (const std::bad_alloc&) {
    throw FileError(path, "out of memory reading the metadata");
  }
}

}  // namespace ctnn::io::detail
