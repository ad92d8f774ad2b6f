// ctnn/io/detail/safetensors_order.hpp — the tensors of a network's safetensors file: their
// PyTorch names and shapes, and where each element lives in ctnn's arrays, in the element orders
// of io/safetensors.hpp's header comment ("Image order"). Included by io/safetensors.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../layers/layer.hpp"
#include "../../shape.hpp"

namespace ctnn::io::safetensors_detail {

/// Largest header accepted, as in the reference implementation (100 MB).
inline constexpr std::uint64_t max_header_bytes = 100'000'000;

/// One tensor of the file: its name and PyTorch shape, and where each element lives in ctnn's
/// arrays: element e (row-major over shape) is array[offset + index(e)], the array being
/// parameters() or, with in_state, state(). A counter is BatchNorm's num_batches_tracked.
struct TensorMap {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::size_t offset = 0;
  std::function<std::size_t(std::size_t)> index;
  bool in_state = false;
  bool counter = false;

  std::size_t elements() const {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::size_t bytes() const { return counter ? 8 : 4 * elements(); }
  const char* dtype() const { return counter ? "I64" : "F32"; }
};

/// The element orders of a file, its metadata's "ctnn_tensor_order" (see the header comment):
/// v2, PyTorch's (c, h, w) order passes through composites; v1, as ctnn 0.1.0 saved its files,
/// the Vector output of a composite (Chain, Residual, Concat), also of one nested in another,
/// counts as in the same order in both libraries, so the layer reading it is not permuted;
/// between other layers, also inside a composite, the order passes on as in v2.
enum class TensorOrder { v1 = 1, v2 = 2 };

/// Element orders at compile time (ElementOrder, layer.hpp, at run time): order<S...> of
/// segments same_order<N>, N elements in the same order in ctnn and PyTorch, and
/// image_order<P, C>, an image of P = H*W positions and C channels that ctnn flattens (h, w, c)
/// and PyTorch (c, h, w) (the map depends on H*W and C only). Normalised: an image of one channel
/// or one position is in the same order, and neighbouring same-order segments are one, so that
/// two orders are the same map exactly when they are the same type.
template <std::size_t N>
struct same_order {};
template <std::size_t P, std::size_t C>
struct image_order {};
template <class... Segments>
struct order {};

/// Segment S in front of order O (merged with a same-order segment there).
template <class S, class O>
struct prepend;
template <class S, class... R>
struct prepend<S, order<R...>> {
  using type = order<S, R...>;
};
template <std::size_t A, std::size_t B, class... R>
struct prepend<same_order<A>, order<same_order<B>, R...>> {
  using type = order<same_order<A + B>, R...>;
};

/// The orders Os one after the other, as a Concat of Vectors joins its branches' elements.
template <class... Os>
struct join {
  using type = order<>;
};
template <class... R, class... Os>
struct join<order<>, order<R...>, Os...> : join<order<R...>, Os...> {};
template <class S, class... R, class... Os>
struct join<order<S, R...>, Os...> {
  using type = typename prepend<S, typename join<order<R...>, Os...>::type>::type;
};

/// The order of shape In read flat by itself: an Image's flattening; the same order for a
/// Vector and for a Sequence (both libraries flatten a sequence step by step).
template <class In>
struct own_order {
  using type = order<same_order<In::size>>;
};
template <std::size_t H, std::size_t W, std::size_t C>
struct own_order<Image<H, W, C>> {
  using type = std::conditional_t<C == 1 || H * W == 1, order<same_order<H * W * C>>,
                                  order<image_order<H * W, C>>>;
};

/// Whether a bound layer keeps the element order of its input (its output, read flat, is its
/// input's elements in the same order, or one value per element as in BatchNorm on a Vector).
template <class L>
constexpr bool keeps_order() {
  return requires {
    requires L::keeps_order;
  };
}

/// The order of L's input read flat, Incoming being the order of the output of the layer before
/// it: Incoming for a Vector, else the input's own.
template <class L, class Incoming>
using input_order = std::conditional_t<is_vector_v<typename L::input_shape>, Incoming,
                                       typename own_order<typename L::input_shape>::type>;

template <class L, class Incoming, TensorOrder R>
constexpr auto output_order_of();
/// The order of L's output read flat, given the order Incoming of its input, in a file of
/// orders R (see output_order_of).
template <class L, class Incoming, TensorOrder R>
using output_order = typename decltype(output_order_of<L, Incoming, R>())::type;

/// The order after parts I to End - 1 of a chained composite's Parts, Incoming before part I.
template <class Parts, std::size_t I, std::size_t End, class Incoming, TensorOrder R>
constexpr auto chained_order_of() {
  if constexpr (I == End)
    return std::type_identity<Incoming>{};
  else
    return chained_order_of<Parts, I + 1, End,
                            output_order<std::tuple_element_t<I, Parts>, Incoming, R>, R>();
}
/// The order of the input of part End of a chain of Parts whose input is in order Incoming.
template <class Parts, std::size_t End, class Incoming, TensorOrder R>
using chained_order = typename decltype(chained_order_of<Parts, 0, End, Incoming, R>())::type;

/// The output orders of the parts of a composite L that all read its input (order Incoming).
template <class L, class Incoming, TensorOrder R, std::size_t... I>
constexpr auto part_orders(std::index_sequence<I...>) {
  return std::tuple<output_order<std::tuple_element_t<I, typename L::parts>, Incoming, R>...>{};
}
template <class L, class Incoming, TensorOrder R>
using part_orders_t =
    decltype(part_orders<L, Incoming, R>(std::make_index_sequence<L::info::count>{}));

/// Whether the composite L joins its parts' outputs end to end (Concat) or adds them (Residual).
template <class L>
inline constexpr bool parts_joined = requires {
  requires L::parts_joined;
};
template <class L>
inline constexpr bool parts_summed = requires {
  requires L::parts_summed;
};

/// Checks that the output orders Os of the parts of a summing composite (Residual) agree: they
/// must, for its sum to add the elements PyTorch's adds. Instantiated for Vector outputs only.
template <class First, class... Os>
struct check_summed_orders {
  static_assert((std::is_same_v<First, Os> && ...),
                "safetensors: Residual's Main and Shortcut give Vectors whose elements are in "
                "different orders relative to PyTorch's (an image flattened by Flatten is "
                "(h, w, c) in ctnn, (c, h, w) in PyTorch), so their sum has no counterpart in "
                "PyTorch's module: flatten images of the same shape on both paths (a Main ending "
                "in Flatten with a Flatten shortcut) or add before flattening (the instantiation "
                "notes show both orders: same_order<N>, N elements in the same order; "
                "image_order<H*W, C>, a flattened image)");
};

/// The order of L's output read flat, given the order Incoming of its input: an Image or a
/// Sequence, its own; a Vector from a layer that keeps the order, its input's; from a Chain,
/// its parts' in turn; from a Concat, its branches' one after the other; from a Residual, its
/// parts' (which must agree: check_summed_orders); from a composite in a file of orders v1, or
/// from any other layer, the same order.
template <class L, class Incoming, TensorOrder R>
constexpr auto output_order_of() {
  using Out = typename L::output_shape;
  if constexpr (!is_vector_v<Out>) {
    return std::type_identity<typename own_order<Out>::type>{};
  } else if constexpr (requires { typename L::parts; }) {
    if constexpr (R == TensorOrder::v1) {
      return std::type_identity<order<same_order<Out::size>>>{};
    } else if constexpr (L::parts_chained) {
      return std::type_identity<
          chained_order<typename L::parts, std::tuple_size_v<typename L::parts>, Incoming, R>>{};
    } else if constexpr (parts_joined<L>) {
      return []<class... Os>(std::type_identity<std::tuple<Os...>>) {
        return std::type_identity<typename join<Os...>::type>{};
      }(std::type_identity<part_orders_t<L, Incoming, R>>{});
    } else if constexpr (parts_summed<L>) {
      return std::type_identity<std::tuple_element_t<0, part_orders_t<L, Incoming, R>>>{};
    } else {
      return std::type_identity<order<same_order<Out::size>>>{};
    }
  } else if constexpr (keeps_order<L>()) {
    return std::type_identity<input_order<L, Incoming>>{};
  } else {
    return std::type_identity<order<same_order<Out::size>>>{};
  }
}

/// The run-time form of an order.
template <std::size_t N>
ElementOrder::Segment segment_of(same_order<N>) {
  return {N, {}};
}
template <std::size_t P, std::size_t C>
ElementOrder::Segment segment_of(image_order<P, C>) {
  return {P * C, {P, 1, C}};
}
template <class... S>
ElementOrder element_order(order<S...>) {
  return {{segment_of(S{})...}};
}

template <class L, class Incoming, TensorOrder R>
void add_layer(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so);

/// The tensors of the parts of a composite L, part I under prefix p + L::part_name(I) + ".", its
/// parameters and state at po and so plus its offsets in the composite; with L::parts_chained
/// each part's input is the previous part's output (Chain), else all take the composite's input.
/// (Orders v1 did not check a Residual's parts: its sum was in the same order.)
template <class L, class Incoming, TensorOrder R>
void add_parts(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so) {
  using Parts = typename L::parts;
  using Info = typename L::info;
  if constexpr (R == TensorOrder::v2 && parts_summed<L> && is_vector_v<typename L::output_shape>) {
    []<class... Os>(std::type_identity<std::tuple<Os...>>) {
      using checked [[maybe_unused]] = decltype(sizeof(check_summed_orders<Os...>));
    }(std::type_identity<part_orders_t<L, Incoming, R>>{});
  }
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (add_layer<std::tuple_element_t<I, Parts>,
               std::conditional_t<L::parts_chained, chained_order<Parts, I, Incoming, R>, Incoming>,
               R>(out, p + L::part_name(I) + ".", po + Info::parameter_offsets[I],
                  so + Info::state_offsets[I]),
     ...);
  }
  (std::make_index_sequence<std::tuple_size_v<Parts>>{});
}

/// The tensors of bound layer L, named prefix `p` + the layer's own names ("3.weight", or
/// "3.main.0.weight" inside a Residual), its parameters at po in parameters() and its state at
/// so in state(); Incoming is the order of the output of the layer before it, R the file's orders.
/// A composite (a layer with `parts`) gives its parts' tensors under its part_name()s; any other
/// layer is asked for its tensors(), with the order of its input read flat.
template <class L, class Incoming, TensorOrder R>
void add_layer(std::vector<TensorMap>& out, const std::string& p, std::size_t po, std::size_t so) {
  if constexpr (requires { typename L::parts; }) {
    add_parts<L, Incoming, R>(out, p, po, so);
  } else if constexpr (requires(const TensorContext& c) { L::tensors(c); }) {
    for (TensorDesc& d : L::tensors(TensorContext{element_order(input_order<L, Incoming>{})})) {
      TensorMap m;
      m.name = p + d.name;
      m.shape = std::move(d.shape);
      m.offset = d.in_state ? so : po;
      m.index = std::move(d.index);
      m.in_state = d.in_state;
      m.counter = d.counter;
      out.push_back(std::move(m));
    }
  } else {
    static_assert(L::parameter_count == 0 && L::state_count == 0,
                  "safetensors: this layer has parameters or state but no tensors(); declare "
                  "static std::vector<ctnn::TensorDesc> tensors(const ctnn::TensorContext&) (see "
                  "docs/layers.md, \"Adding a layer\")");
  }
}

/// Every tensor of Net's file of orders R, in layer order (the network is a chain of its layers,
/// its input in the same order in both libraries).
template <class Net, TensorOrder R = TensorOrder::v2>
std::vector<TensorMap> tensor_maps() {
  using Layers = typename Net::layers;
  using In = order<same_order<Net::input_shape::size>>;
  std::vector<TensorMap> out;
  std::size_t state_offset = 0;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using L = std::tuple_element_t<I, Layers>;
          add_layer<L, chained_order<Layers, I, In, R>, R>(
              out, std::to_string(I) + ".", Net::template parameter_offset<I>, state_offset);
          state_offset += L::state_count;
        }(),
        ...);
  }
  (std::make_index_sequence<Net::layer_count>{});
  return out;
}

}  // namespace ctnn::io::safetensors_detail
