// ctnn/io/detail/metadata_io.hpp — a Metadata (metadata.hpp) as the files store it: the JSON
// section of a model file (format 4) and the "ctnn_class_names" / "ctnn_preprocessing" strings
// of a safetensors file's __metadata__; the checks a Metadata passes before it is written and
// after it is read. The JSON code is compiled as json_linkage.hpp says.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../../attributes.hpp"
#include "../../metadata.hpp"
#include "../../shape.hpp"
#include "json_linkage.hpp"

namespace ctnn::io::detail {

/// The largest metadata section a model file holds, and the largest value of a safetensors
/// metadata key that is read as JSON ("ctnn_class_names", "ctnn_preprocessing"): 1 MiB.
inline constexpr std::size_t max_metadata_bytes = std::size_t{1} << 20;
/// At most this many class names, each at most max_class_name_bytes bytes of UTF-8.
inline constexpr std::size_t max_class_names = 100'000;
inline constexpr std::size_t max_class_name_bytes = 1024;
/// A free-form key has at most this many bytes.
inline constexpr std::size_t max_value_key_bytes = 1024;
/// Preprocessing::height and width are at most this (stb_image_resize's limit is 2^24).
inline constexpr std::size_t max_image_side = 65536;

/// Why `m` cannot be stored or was stored wrongly, "" when it is fine: a class name empty, longer
/// than max_class_name_bytes or holding a control character (below U+0020, or U+007F), more than
/// max_class_names names; a preprocessing whose channels is not 1 or 3, whose height or width is
/// not in [1, max_image_side], whose scale is not finite and positive, a used mean (the first
/// `channels`) not finite or a used std not finite and positive, or an unused mean or std other
/// than 0 and 1 (the files store only the used ones); a free-form key empty, longer than
/// max_value_key_bytes, "format" or starting "ctnn_" (the library's own keys in a safetensors
/// file). UTF-8 is checked by the JSON writer and parser.
inline std::string metadata_problem(const Metadata& m) {
  if (m.class_names.size() > max_class_names)
    return std::to_string(m.class_names.size()) + " class names, more than the " +
           std::to_string(max_class_names) + " a file holds";
  for (std::size_t i = 0; i < m.class_names.size(); ++i) {
    const std::string& name = m.class_names[i];
    const std::string which = "class name " + std::to_string(i);
    if (name.empty()) return which + " is empty";
    if (name.size() > max_class_name_bytes)
      return which + " has " + std::to_string(name.size()) + " bytes, more than " +
             std::to_string(max_class_name_bytes);
    for (const char c : name)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        return which + " holds the control character " +
               std::to_string(static_cast<unsigned char>(c)) + " (a newline or a tab included)";
  }
  if (const auto& p = m.preprocessing) {
    if (p->channels != 1 && p->channels != 3)
      return "preprocessing: channels " + std::to_string(p->channels) + ", must be 1 or 3";
    if (p->height < 1 || p->height > max_image_side || p->width < 1 || p->width > max_image_side)
      return "preprocessing: a size of " + std::to_string(p->height) + " x " +
             std::to_string(p->width) + " pixels; each side must be in [1, " +
             std::to_string(max_image_side) + "]";
    if (!std::isfinite(p->scale) || !(p->scale > 0.0f))
      return "preprocessing: scale " + std::to_string(p->scale) + ", must be finite and positive";
    for (std::size_t c = 0; c < 3; ++c) {
      const std::string at = "[" + std::to_string(c) + "] ";
      if (c >= p->channels) {
        if (p->mean[c] != 0.0f || p->std[c] != 1.0f)
          return "preprocessing: mean" + at + "or std" + at + "is set for a channel the " +
                 std::to_string(p->channels) + "-channel input does not have";
      } else if (!std::isfinite(p->mean[c])) {
        return "preprocessing: mean" + at + "is " + std::to_string(p->mean[c]) + ", must be finite";
      } else if (!std::isfinite(p->std[c]) || !(p->std[c] > 0.0f)) {
        return "preprocessing: std" + at + "is " + std::to_string(p->std[c]) +
               ", must be finite and positive";
      }
    }
  }
  for (const auto& [key, value] : m.values) {
    if (key.empty()) return "a free-form value has an empty key";
    if (key.size() > max_value_key_bytes)
      return "a free-form key has " + std::to_string(key.size()) + " bytes, more than " +
             std::to_string(max_value_key_bytes);
    if (key == "format" || key.starts_with("ctnn_"))
      return "the free-form key '" + key.substr(0, 200) +
             "' is reserved (\"format\" and keys starting \"ctnn_\" are the library's own)";
  }
  return "";
}

/// The number of classes of a network whose output is `Out`: a Vector's size, a Sequence's
/// features (a class per step), an Image's channels (a class per pixel).
template <class Out>
constexpr std::size_t output_classes() {
  if constexpr (is_image_v<Out>)
    return Out::channels;
  else if constexpr (is_sequence_v<Out>)
    return Out::features;
  else
    return Out::size;
}

/// Why `m` does not fit Net, "" when it does: more class names than classes (output_classes;
/// fewer name the first outputs, as when a network has more outputs than a data set has
/// classes), a preprocessing for a network whose input is not an Image of its height,
/// width and channels.
template <class Net>
CTNN_COLD std::string metadata_fit_problem(const Metadata& m) {
  using In = typename Net::input_shape;
  constexpr std::size_t classes = output_classes<typename Net::output_shape>();
  if (m.class_names.size() > classes)
    return std::to_string(m.class_names.size()) + " class names for a network of " +
           std::to_string(classes) + " classes (its output is " + Net::output_shape::name() + ")";
  if (const auto& p = m.preprocessing) {
    bool fits = false;
    if constexpr (is_image_v<In>)
      fits = p->height == In::height && p->width == In::width && p->channels == In::channels;
    if (!fits)
      return "the preprocessing makes Image<" + std::to_string(p->height) + "," +
             std::to_string(p->width) + "," + std::to_string(p->channels) +
             "> samples; the network's input is " + In::name();
  }
  return "";
}

/// The JSON text of a model file's metadata section: {"class_names": [...], "preprocessing":
/// {...}, "values": {...}}, members left out when empty. Throws InvalidArgument when
/// metadata_problem() finds a problem, a string is not valid UTF-8, or the text exceeds
/// max_metadata_bytes.
CTNN_JSON_FUNCTION std::string metadata_json(const Metadata& m);

/// The Metadata of the JSON text `text` of a model file's metadata section. Throws FileError
/// naming `path` when the text is not valid JSON (UTF-8 included), nests deeper than 4 levels,
/// holds a member of the wrong type or an unknown one, or the Metadata fails metadata_problem().
CTNN_JSON_FUNCTION Metadata metadata_from_json(const std::string& path,
                                               const std::vector<unsigned char>& text);

/// The __metadata__ entries of a safetensors file that store `m`: "ctnn_class_names" (a JSON
/// array), "ctnn_preprocessing" (a JSON object), each free-form value under its key. Throws as
/// metadata_json().
CTNN_JSON_FUNCTION std::map<std::string, std::string> metadata_entries(const Metadata& m);

/// The Metadata of the __metadata__ entries of the safetensors file `path`: "ctnn_class_names",
/// "ctnn_preprocessing", and every key that is not "format" and does not start "ctnn_" as a
/// free-form value. Throws FileError naming `path` and the key as metadata_from_json().
CTNN_JSON_FUNCTION Metadata
metadata_from_entries(const std::string& path, const std::map<std::string, std::string>& entries);

}  // namespace ctnn::io::detail

#if CTNN_JSON_DEFINITIONS
#include "metadata_json.hpp"
#endif
