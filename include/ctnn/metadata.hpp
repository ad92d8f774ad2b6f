// ctnn/metadata.hpp — what a saved network says about itself besides its weights: the names of
// its classes, how an input image is prepared for it, and free-form key/value pairs.
//
// Model files (io/model_file.hpp) and safetensors files (io/safetensors.hpp) carry a Metadata
// beside the parameters; files written before it existed load with an empty one. In a
// safetensors file it is kept in the header's "__metadata__" map (strings only):
//   "ctnn_class_names"    a JSON array of strings, label i is element i
//   "ctnn_preprocessing"  a JSON object {"channels": C, "height": H, "width": W, "scale": s,
//                         "mean": [m0, ...], "std": [s0, ...], "invert": false}
//   any other key         one entry of Metadata::values, as it is (keys starting "ctnn_" and
//                         "format" are the library's own and are not free-form values)
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ctnn {

/// How an image file becomes one input sample of the network, in the terms of
/// data::ImageOptions (data/image.hpp): the image is decoded, converted to `channels` channels
/// (1 grey, 3 RGB), resized to `height` x `width` pixels, and each byte b of channel c becomes
///   v = b * scale;  v = 255 * scale - v (only with invert);  v = (v - mean[c]) / std[c].
/// The sample is laid out channels-last, (h, w, c), as ctnn's Image<H, W, C>. For one channel only
/// mean[0] and std[0] are used.
struct Preprocessing {
  std::size_t channels = 1;
  std::size_t height = 0;  ///< pixels; 0 in a Preprocessing that was never set
  std::size_t width = 0;   ///< pixels
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean = {0.0f, 0.0f, 0.0f};
  std::array<float, 3> std = {1.0f, 1.0f, 1.0f};
  bool invert = false;

  friend bool operator==(const Preprocessing&, const Preprocessing&) = default;
};

/// What a saved network says about itself. Every member may be empty: a file written without
/// metadata, or before metadata existed, loads with `Metadata{}`.
struct Metadata {
  /// class_names[i] names output i of a classifier (empty: not known). At most one per output;
  /// fewer name the first outputs only (the others are unnamed, e.g. outputs no class uses).
  std::vector<std::string> class_names;
  /// How an input image is prepared (empty: not known, or the input is not an image).
  std::optional<Preprocessing> preprocessing;
  /// Free-form pairs: the source of a converted model, a training recipe, a licence, ...
  std::map<std::string, std::string> values;

  bool empty() const { return class_names.empty() && !preprocessing && values.empty(); }
  friend bool operator==(const Metadata&, const Metadata&) = default;
};

}  // namespace ctnn
