// ctnn/io/detail/json_reader.hpp — the JSON parser of the checkpoint's training state and the
// safetensors header: one linear pass with limits. Included by checkpoint_json.hpp and
// safetensors_json.hpp (see json_linkage.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ctnn::io::detail {

/// What parse_json() accepts: objects and arrays nested at most max_depth deep (the outermost
/// value is at depth 1) and at most max_values values in all (each object, array, string,
/// number, true, false and null is one; keys are not counted). The parsed document then takes
/// at most about 100 bytes per value besides its strings, whatever the text.
struct JsonLimits {
  std::size_t max_depth = 32;
  std::size_t max_values = std::size_t{1} << 20;
};

/// Why parse_json() stopped; kind none when it read the whole text.
struct JsonProblem {
  enum Kind { none, syntax, duplicate, too_deep, too_many } kind = none;
  std::string message;    ///< syntax: the parser's own message
  std::string key;        ///< duplicate: the key that appears twice
  std::size_t depth = 0;  ///< duplicate: the depth of the object it appears twice in
  std::string outer_key;  ///< the last key read in the outermost object
};

/// Builds the document as nlohmann's own DOM parser does, but refuses a key that appears twice
/// in an object (the object's own map finds it) and stops at the limits.
class LimitedJsonBuilder {
 public:
  using json = nlohmann::json;

  LimitedJsonBuilder(json& root, const JsonLimits& limits, JsonProblem& problem)
      : root_(root), limits_(limits), problem_(problem) {}

  bool null() { return add(nullptr); }
  bool boolean(bool v) { return add(v); }
  bool number_integer(json::number_integer_t v) { return add(v); }
  bool number_unsigned(json::number_unsigned_t v) { return add(v); }
  bool number_float(json::number_float_t v, const json::string_t&) { return add(v); }
  bool string(json::string_t& v) { return add(std::move(v)); }
  bool binary(json::binary_t& v) { return add(std::move(v)); }
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    if (stack_.size() == 1) problem_.outer_key = k;
    json& object = *stack_.back();
    if (object.contains(k)) {
      problem_.kind = JsonProblem::duplicate;
      problem_.key = k;
      problem_.depth = stack_.size();
      return false;
    }
    member_ = &object[std::move(k)];
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    problem_.kind = JsonProblem::syntax;
    problem_.message = e.what();
    return false;
  }

 private:
  template <class V>
  json* place(V&& v) {
    if (stack_.empty()) {
      root_ = json(std::forward<V>(v));
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.emplace_back(std::forward<V>(v));
      return &parent.back();
    }
    *member_ = json(std::forward<V>(v));
    return member_;
  }
  bool counted() {
    if (++values_ <= limits_.max_values) return true;
    problem_.kind = JsonProblem::too_many;
    return false;
  }
  template <class V>
  bool add(V&& v) {
    if (!counted()) return false;
    place(std::forward<V>(v));
    return true;
  }
  bool open(json::value_t type) {
    if (!counted()) return false;
    if (stack_.size() >= limits_.max_depth) {
      problem_.kind = JsonProblem::too_deep;
      return false;
    }
    stack_.push_back(place(type));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  json& root_;
  JsonLimits limits_;
  JsonProblem& problem_;
  std::vector<json*> stack_;
  json* member_ = nullptr;
  std::size_t values_ = 0;
};

/// Parses `text` into `out` in one pass, in time linear in its length. Returns what stopped it,
/// if anything (`out` then holds part of the document). Throws std::bad_alloc when memory runs
/// out.
inline JsonProblem parse_json(const std::vector<unsigned char>& text, const JsonLimits& limits,
                              nlohmann::json& out) {
  JsonProblem problem;
  LimitedJsonBuilder builder(out, limits, problem);
  nlohmann::json::sax_parse(text.begin(), text.end(), &builder);
  return problem;
}

}  // namespace ctnn::io::detail
