// ctnn/io/detail/safetensors_json.hpp — the JSON header of a safetensors file, written and read
// with nlohmann-json. Included by io/safetensors.hpp, inline by default; see json_linkage.hpp
// for compiling it once.
#pragma once

#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../safetensors.hpp"
#include "json_reader.hpp"

namespace ctnn::io::safetensors_detail {

/// The JSON parser's message `what` with what follows its first quote (the text of the file it
/// stopped at, and its own words after it) cut as excerpt() does.
inline std::string json_error_text(const std::string& what) {
  const std::size_t quote = what.find('\'');
  if (quote == std::string::npos) return excerpt(what);
  return what.substr(0, quote + 1) + excerpt(std::string_view(what).substr(quote + 1));
}

/// What a header may hold: see JsonLimits and docs/safetensors.md.
inline constexpr io::detail::JsonLimits header_limits{};

inline Header header_entries_of(const std::string& path, const std::vector<unsigned char>& text,
                                std::uint64_t buffer_size) {
  // JSON leaves duplicate keys to the parser, which keeps the last; the format forbids them.
  nlohmann::json header;
  const io::detail::JsonProblem problem = io::detail::parse_json(text, header_limits, header);
  switch (problem.kind) {
    case io::detail::JsonProblem::none:
      break;
    case io::detail::JsonProblem::syntax:
      throw FileError(path, "the header is not valid JSON: " + json_error_text(problem.message));
    case io::detail::JsonProblem::duplicate:
      if (problem.depth > 1)
        throw FileError(path, "malformed header: key '" + excerpt(problem.key) +
                                  "' appears twice in '" + excerpt(problem.outer_key) + "'");
      throw FileError(
          path, "malformed header: " +
                    (problem.key == "__metadata__" ? problem.key
                                                   : "tensor '" + excerpt(problem.key) + "'") +
                    " appears twice");
    case io::detail::JsonProblem::too_deep:
      throw FileError(path, "malformed header: nested deeper than " +
                                std::to_string(header_limits.max_depth) + " levels");
    case io::detail::JsonProblem::too_many:
      throw FileError(path, "malformed header: more than " +
                                std::to_string(header_limits.max_values) +
                                " JSON values, the limit of a header");
  }
  if (!header.is_object()) throw FileError(path, "the header is not a JSON object");
  Header out;
  for (const auto& item : header.items()) {
    const std::string& name = item.key();
    const nlohmann::json& v = item.value();
    if (name == "__metadata__") {
      bool ok = v.is_object();
      if (ok)
        for (const auto& m : v) ok = ok && m.is_string();
      if (!ok) throw FileError(path, "malformed header: __metadata__ is not a map of strings");
      for (const auto& m : v.items()) out.metadata.emplace(m.key(), m.value().get<std::string>());
      continue;
    }
    const auto malformed = [&](const std::string& why) {
      return FileError(path, "malformed header: tensor '" + excerpt(name) + "' " + why);
    };
    if (!v.is_object()) throw malformed("is not an object");
    const auto dt = v.find("dtype");
    const auto sh = v.find("shape");
    const auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) throw malformed("has no dtype string");
    if (sh == v.end() || !sh->is_array()) throw malformed("has no shape array");
    if (off == v.end() || !off->is_array() || off->size() != 2)
      throw malformed("has no data_offsets pair");
    Entry e;
    e.dtype = dt->get<std::string>();
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) throw malformed("has a shape entry that is not a size");
      e.shape.push_back(d.get<std::uint64_t>());
    }
    if (!(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      throw malformed("has data_offsets that are not byte offsets");
    e.begin = (*off)[0].get<std::uint64_t>();
    e.end = (*off)[1].get<std::uint64_t>();
    const std::string where = "tensor '" + excerpt(name) + "': data_offsets [" +
                              std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) throw FileError(path, where + " begin after their end");
    if (e.end > buffer_size)
      throw FileError(path, where + " reach beyond the data buffer (" +
                                std::to_string(buffer_size) + " bytes)");
    out.entries.emplace(name, std::move(e));
  }
  return out;
}

CTNN_JSON_FUNCTION Header header_entries(const std::string& path,
                                         const std::vector<unsigned char>& text,
                                         std::uint64_t buffer_size) {
  try {
    return header_entries_of(path, text, buffer_size);
  } catch (const std::bad_alloc&) {
    throw FileError(path,
                    "out of memory reading the header (" + std::to_string(text.size()) + " bytes)");
  }
}

CTNN_JSON_FUNCTION std::string header_json(const std::string& signature,
                                           const std::vector<TensorMap>& maps,
                                           const std::map<std::string, std::string>& extra) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {
      {"format", "pt"}, {"ctnn_signature", signature}, {"ctnn_tensor_order", "2"}};
  for (const auto& [key, value] : extra) header["__metadata__"][key] = value;
  std::uint64_t at = 0;
  for (const auto& m : maps) {
    header[m.name] = {
        {"dtype", m.dtype()}, {"shape", m.shape}, {"data_offsets", {at, at + m.bytes()}}};
    at += m.bytes();
  }
  return header.dump();
}

}  // namespace ctnn::io::safetensors_detail
