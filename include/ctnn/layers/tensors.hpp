// ctnn/layers/tensors.hpp — what file formats ask of a layer: its tensors as PyTorch's state_dict
// holds them (TensorDesc), and where the elements of a flattened image are in PyTorch's order
// (FlatImage, ElementOrder, TensorContext). A layer describes its tensors with
// `static std::vector<TensorDesc> tensors(const TensorContext&)` (layers/contract.hpp,
// DescribesTensors); io/safetensors.hpp reads and writes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ctnn {

/// The image whose channels-last flattening a Vector is: h, w, c (h == 0: it is no image). File
/// formats that store PyTorch's (c, h, w) order need it for the layers reading such a Vector.
struct FlatImage {
  std::size_t h = 0, w = 0, c = 0;
  /// PyTorch's position q in a (c, h, w)-flattened image -> ctnn's (h, w, c) position (q when
  /// this is no image).
  constexpr std::size_t from_chw(std::size_t q) const {
    if (h == 0) return q;
    const std::size_t ci = q / (h * w), hi = q / w % h, wi = q % w;
    return (hi * w + wi) * c + ci;
  }
};

/// Where the elements of a Vector are in PyTorch's order of the same values: segments one after
/// the other, each `size` elements that are a flattened image (`image`: ctnn's (h, w, c), PyTorch's
/// (c, h, w); size = h * w * c) or, with image.h == 0, in the same order in both. A Flatten of an
/// Image is one image segment; a Concat of Vectors joins its branches' segments (a
/// GlobalAvgPool2D or Dense output is a same-order segment). No segments: the same order.
struct ElementOrder {
  struct Segment {
    std::size_t size = 0;
    FlatImage image;
  };
  std::vector<Segment> segments;

  /// The order of one flattened image.
  static ElementOrder of_image(FlatImage im) { return {{{im.h * im.w * im.c, im}}}; }
  /// PyTorch's position q -> ctnn's position (q itself past the segments).
  std::size_t from_chw(std::size_t q) const {
    std::size_t start = 0;
    for (const Segment& s : segments) {
      if (q - start < s.size) return start + s.image.from_chw(q - start);
      start += s.size;
    }
    return q;
  }
};

/// What a layer's tensors() may depend on besides its own type.
struct TensorContext {
  /// The order of the layer's input read flat when it is a Vector (for an Image input: the
  /// image's own): an image flattened by Flatten, also as the last part of a Chain, a Residual
  /// or a Concat branch, with only order-keeping layers (keeps_order) between, is in PyTorch's
  /// (c, h, w) order in file formats that store PyTorch's layouts (io/safetensors.hpp).
  ElementOrder flat_input;
};

/// One tensor of a layer as PyTorch's state_dict holds it (safetensors files, io/safetensors.hpp):
/// its name within the layer's module ("weight", "bias", "running_mean"), PyTorch's shape, and
/// where each of its elements lives: element e (row-major over shape) is the float at index(e)
/// in the layer's slice of the parameters, or of the state with in_state. `counter`: an I64
/// scalar that ctnn does not keep (BatchNorm's num_batches_tracked: written as 0, ignored when
/// read).
struct TensorDesc {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::function<std::size_t(std::size_t)> index;
  bool in_state = false;
  bool counter = false;
};

}  // namespace ctnn
