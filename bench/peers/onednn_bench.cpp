// oneDNN (2.x primitives API) side of the reference workloads, beside ctnn's bench_networks:
// the CNN, the LSTM, the CRNN and the ResNet of examples/networks.hpp, inference only:
//   M1  batch-1 latency, 1 thread: median us of single forwards (after warm-up);
//   M2  batch-256 throughput, 2 threads: 256 / median batch time, images/s.
// Every compute primitive is created with format_tag::any so that oneDNN picks its preferred
// (blocked) layouts; weights are reordered into them once, before timing; a reorder of
// activations between primitives, when one is needed, is part of the timed forward. The
// primitives are created after the thread count is set, as oneDNN sizes its work by it.
// In the ResNet each BatchNorm (running statistics) is folded into the convolution before it, and
// a residual block's second convolution adds the shortcut and applies the ReLU as post-ops (sum,
// eltwise), writing into the shortcut's memory.
// The network ends at the logits (no softmax), as ctnn's predict does.
//
// Output: `network,measure,library,threads,median,unit` lines (e.g. `cnn,M1,onednn,1,128.0,us`);
// every other line starts with `#`. `--check` compares each network's output on a few images
// with a plain C++ forward of the same weights (BatchNorm not folded) and exits non-zero on a
// mismatch.
//
// `--int8` builds the CNN, the ResNet and the CRNN's convolutional part in int8 instead, after
// post-training quantization in the scheme of Jacob et al. 2018 ("Quantization and Training of
// Neural Networks for Efficient Integer-Arithmetic-Only Inference"), zero points 0; the library
// is then `onednn-int8`:
//  - weights int8, symmetric per output channel: s_w[o] = max |w[o]| / 127, w_q = round(w / s_w)
//    (BatchNorm folded first), quantized by oneDNN's reorder into the primitive's layout;
//  - activations uint8 with one scale per tensor, s = max / 255, the max over a calibration
//    forward (min/max method) of 64 synthetic images (uniform in [0, 1], another seed than the
//    timed ones) through the same random weights, as the float figures use random weights and
//    synthetic images; a ResNet projection shortcut, which has no ReLU, is int8 (max |y| / 127).
//    On a CPU without VNNI (AVX512-VNNI or AVX-VNNI) the activations use 0..127 only, s = max /
//    127: there oneDNN multiplies with vpmaddubsw, whose int16 sum of two u8 x s8 products
//    saturates above 32767 (Intel's intrinsics guide, _mm256_maddubs_epi16), which 255 x 127 x 2
//    exceeds; PyTorch's fbgemm engine reduces the range the same way (reduce_range);
//  - convolutions u8 x s8 with int32 accumulation; output scales per channel
//    s_x * s_w[o] / s_y and the bias in accumulator units, b[o] / (s_x * s_w[o]) (oneDNN 2.x
//    adds the bias before the output scales), ReLU fused as an eltwise post-op, the residual add
//    as a sum post-op with scale s_shortcut / s_y on the shortcut's int8 values;
//  - max-pooling and the global average on uint8 (the scale passes through);
//  - the last inner product u8 x s8 with a float32 output (the logits); the CNN's hidden one
//    u8 x s8 -> u8 with ReLU;
//  - the image quantized to uint8 by a reorder (timed, part of the forward); in the CRNN the
//    pooled uint8 map is dequantized by the reorder that makes it a sequence, and the LSTM and
//    the last inner product stay float32. The LSTM network has no int8 figure.
// `--int8 --check` compares the int8 logits with the plain float forward (largest error at most
// 8% of the largest logit).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "peer_common.hpp"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using clk = std::chrono::steady_clock;
using peer::split;
constexpr auto f32 = memory::data_type::f32;

// ------------------------------------------------------------------------------ layer records
// Each layer keeps its weights in a plain layout, so the same network can be run naively.
// ConvBn is a k x k convolution (stride, "same" padding, bias) and the BatchNorm after it; a
// Block is relu(body(x) + shortcut(x)), an empty shortcut being x itself.
struct Layer {
  enum Kind { Conv3x3, MaxPool2, Dense, Lstm, ConvBn, Block, GlobalAvgPool } kind;
  int in_c, in_h, in_w;  // input as C x H x W (a vector is C x 1 x 1)
  int out;               // filters, units or hidden size
  bool relu = false;
  std::vector<float> w, w_iter, b;  // Conv OIHW, Dense OI (I = C*H*W), LSTM ldigo (gates i,f,c,o)
  int k = 3, stride = 1;            // ConvBn
  std::vector<float> gamma{}, beta{}, mean{}, var{};  // ConvBn: the BatchNorm's, per filter
  std::vector<Layer> body{}, shortcut{};              // Block
  mutable float amax = 0.f;  // the largest |output| plain_forward has seen (int8 calibration)
};

constexpr double kBatchNormEps = 1e-5;

std::vector<float> uniform(std::size_t n, float bound, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-bound, bound);
  std::vector<float> v(n);
  for (auto& x : v) x = u(g);
  return v;
}

// TensorFlow-style "same" padding, as ctnn's: out = ceil(in / stride), the total padding
// max((out - 1) * stride + k - in, 0) split with the smaller half before (top or left).
struct Same {
  int out, before, after;
};
Same same(int in, int k, int stride) {
  const int out = (in + stride - 1) / stride;
  const int total = std::max((out - 1) * stride + k - in, 0);
  return {out, total / 2, total - total / 2};
}

// ------------------------------------------------------------------------------ oneDNN graph
constexpr auto u8 = memory::data_type::u8;
constexpr auto s8 = memory::data_type::s8;

// An int8 activation: values q (u8 or s8) of the real tensor scale * q. A float32 one (after the
// CRNN's LSTM) has scale 0.
struct QMem {
  memory m;
  float scale;
};

// Per output channel o of weights w (out x per): max |w[o]| / 127 (1 for an all-zero channel).
std::vector<float> weight_scales(const std::vector<float>& w, int out) {
  const std::size_t per = w.size() / out;
  std::vector<float> s(out);
  for (int o = 0; o < out; ++o) {
    float m = 0.f;
    for (std::size_t i = o * per; i < (o + 1) * per; ++i) m = std::max(m, std::fabs(w[i]));
    s[o] = m > 0.f ? m / 127.f : 1.f;
  }
  return s;
}

class Graph {
 public:
  Graph(int batch) : n_(batch), eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {}

  // The image batch, N x 1 x 28 x 28 in NCHW (equal to NHWC for one channel).
  memory input() {
    in_ = memory({{n_, 1, 28, 28}, f32, tag::nchw}, eng_);
    return in_;
  }

  memory conv3x3(memory x, const Layer& l) {
    const int oh = l.in_h - 2, ow = l.in_w - 2;
    const memory::desc src({n_, l.in_c, l.in_h, l.in_w}, f32, tag::any);
    const memory::desc wts({l.out, l.in_c, 3, 3}, f32, tag::any);
    const memory::desc bias({l.out}, f32, tag::x);
    const memory::desc dst({n_, l.out, oh, ow}, f32, tag::any);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                      dnnl::algorithm::convolution_direct, src, wts, bias, dst,
                                      {1, 1}, {0, 0}, {0, 0});
    dnnl::convolution_forward::primitive_desc pd(d, relu_attr(l.relu), eng_);
    note("conv", pd.impl_info_str());
    memory s = as(x, pd.src_desc());
    memory w = weights(l.w, {l.out, l.in_c, 3, 3}, tag::oihw, pd.weights_desc());
    memory b = filled(bias, l.b);
    memory y(pd.dst_desc(), eng_);
    add(dnnl::convolution_forward(pd),
        {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}});
    return y;
  }

  memory maxpool2(memory x, const Layer& l) {
    const memory::desc dst({n_, l.in_c, l.in_h / 2, l.in_w / 2}, f32, tag::any);
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                                  x.get_desc(), dst, {2, 2}, {2, 2}, {0, 0}, {0, 0});
    dnnl::pooling_forward::primitive_desc pd(d, eng_);
    note("pool", pd.impl_info_str());
    memory y(pd.dst_desc(), eng_);
    add(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}});
    return y;
  }

  // Convolution with its BatchNorm folded into the weights and bias. Without a shortcut, ReLU
  // fused when l.relu; with one, dst = relu?(dst + conv), the dst being the shortcut's memory
  // (reordered to the convolution's dst layout first, timed, if it is in another one).
  memory conv_bn(memory x, const Layer& l, const memory* shortcut = nullptr, bool relu = false) {
    const Same sh = same(l.in_h, l.k, l.stride), sw = same(l.in_w, l.k, l.stride);
    const memory::desc src({n_, l.in_c, l.in_h, l.in_w}, f32, tag::any);
    const memory::desc wts({l.out, l.in_c, l.k, l.k}, f32, tag::any);
    const memory::desc bias({l.out}, f32, tag::x);
    const memory::desc dst({n_, l.out, sh.out, sw.out}, f32, tag::any);
    dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, wts, bias,
        dst, {l.stride, l.stride}, {sh.before, sw.before}, {sh.after, sw.after});
    dnnl::convolution_forward::primitive_desc pd(
        d, relu_attr(shortcut ? relu : l.relu, shortcut != nullptr), eng_);
    note(shortcut ? "conv+bn+sum" : "conv+bn", pd.impl_info_str());
    memory s = as(x, pd.src_desc());
    std::vector<float> fw, fb;
    fold_batchnorm(l, fw, fb);
    memory w = weights(fw, {l.out, l.in_c, l.k, l.k}, tag::oihw, pd.weights_desc());
    memory b = filled(bias, fb);
    memory y = shortcut ? as(*shortcut, pd.dst_desc()) : memory(pd.dst_desc(), eng_);
    add(dnnl::convolution_forward(pd),
        {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}});
    return y;
  }

  // Residual block: the shortcut (x or its projection) first, then the body, whose last
  // convolution adds the shortcut in place: the shortcut's memory (x itself when it is in that
  // convolution's dst layout) becomes the block's output.
  memory block(memory x, const Layer& l) {
    memory s = x;
    for (const auto& p : l.shortcut) s = conv_bn(s, p);
    memory y = x;
    for (std::size_t i = 0; i + 1 < l.body.size(); ++i) y = conv_bn(y, l.body[i]);
    return conv_bn(y, l.body.back(), &s, l.relu);
  }

  // Average over H x W: N x C x H x W to N x C x 1 x 1.
  memory global_avgpool(memory x, const Layer& l) {
    const memory::desc dst({n_, l.in_c, 1, 1}, f32, tag::any);
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference,
                                  dnnl::algorithm::pooling_avg_exclude_padding, x.get_desc(), dst,
                                  {1, 1}, {l.in_h, l.in_w}, {0, 0}, {0, 0});
    dnnl::pooling_forward::primitive_desc pd(d, eng_);
    note("avgpool", pd.impl_info_str());
    memory y(pd.dst_desc(), eng_);
    add(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}});
    return y;
  }

  // Inner product over the whole input (C x H x W flattened in NCHW order, weights OIHW; a 4-D
  // input, e.g. C x 1 x 1 after global pooling, keeps its 4 dimensions).
  memory dense(memory x, const Layer& l) {
    const bool spatial = x.get_desc().dims().size() == 4;
    const memory::dims sd =
        spatial ? memory::dims{n_, l.in_c, l.in_h, l.in_w} : memory::dims{n_, l.in_c};
    memory::dims wd = sd;
    wd[0] = l.out;
    const memory::desc src(sd, f32, tag::any), wts(wd, f32, tag::any);
    const memory::desc bias({l.out}, f32, tag::x), dst({n_, l.out}, f32, tag::any);
    dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, src, wts, bias, dst);
    dnnl::inner_product_forward::primitive_desc pd(d, relu_attr(l.relu), eng_);
    note("dense", pd.impl_info_str());
    memory s = as(x, pd.src_desc());
    memory w = weights(l.w, wd, spatial ? tag::oihw : tag::oi, pd.weights_desc());
    memory b = filled(bias, l.b);
    memory y(pd.dst_desc(), eng_);
    add(dnnl::inner_product_forward(pd),
        {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}});
    out_ = y;
    return y;
  }

  // LSTM over the rows of x (N x C x H x W): step t = row t, features ordered (column, channel)
  // as in ctnn's channels-last layout. Returns the last hidden state, N x hidden, plain. An int8
  // x is dequantized (times `scale`) by the reorder into the sequence.
  memory lstm(memory x, const Layer& l, float scale = 1.f) {
    const int steps = l.in_h, features = l.in_w * l.in_c, hidden = l.out;
    memory seq;
    if (l.in_c == 1 && x.get_desc() == memory::desc({n_, 1, l.in_h, l.in_w}, f32, tag::nchw)) {
      // One-channel NCHW rows are already steps: read them in place as (N, T, C).
      seq = memory({{steps, n_, features}, f32, tag::ntc}, eng_, x.get_data_handle());
    } else {
      // Reorder the feature map straight into a (T, N, W*C) sequence: dims N, C, H, W with
      // strides that put row h at step h and channel c of column w at feature w*C + c.
      seq = memory({{steps, n_, features}, f32, tag::tnc}, eng_);
      const memory::desc view({n_, l.in_c, l.in_h, l.in_w}, f32,
                              memory::dims{features, 1, memory::dim(n_) * features, l.in_c});
      memory target(view, eng_, seq.get_data_handle());
      dnnl::primitive_attr attr;
      if (x.get_desc().data_type() != f32) attr.set_output_scales(0, {scale});
      add(dnnl::reorder(x, target, attr), {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, target}});
    }
    const memory::desc wl({1, 1, features, 4, hidden}, f32, tag::any);
    const memory::desc wi({1, 1, hidden, 4, hidden}, f32, tag::any);
    const memory::desc bias({1, 1, 4, hidden}, f32, tag::ldgo);
    const memory::desc dst_layer({steps, n_, hidden}, f32, tag::tnc);
    const memory::desc dst_iter({1, 1, n_, hidden}, f32, tag::ldnc);
    dnnl::lstm_forward::desc d(dnnl::prop_kind::forward_inference,
                               dnnl::rnn_direction::unidirectional_left2right, seq.get_desc(),
                               memory::desc(), memory::desc(), wl, wi, bias, dst_layer, dst_iter,
                               dst_iter);
    dnnl::lstm_forward::primitive_desc pd(d, eng_);
    note("lstm", pd.impl_info_str());
    memory wlm = weights(l.w, {1, 1, features, 4, hidden}, tag::ldigo, pd.weights_layer_desc());
    memory wim = weights(l.w_iter, {1, 1, hidden, 4, hidden}, tag::ldigo, pd.weights_iter_desc());
    memory b = filled(bias, l.b);
    memory yl(pd.dst_layer_desc(), eng_), h(pd.dst_iter_desc(), eng_),
        c(pd.dst_iter_c_desc(), eng_);
    add(dnnl::lstm_forward(pd), {{DNNL_ARG_SRC_LAYER, seq},
                                 {DNNL_ARG_WEIGHTS_LAYER, wlm},
                                 {DNNL_ARG_WEIGHTS_ITER, wim},
                                 {DNNL_ARG_BIAS, b},
                                 {DNNL_ARG_DST_LAYER, yl},
                                 {DNNL_ARG_DST_ITER, h},
                                 {DNNL_ARG_DST_ITER_C, c}});
    return memory({{n_, hidden}, f32, tag::nc}, eng_, h.get_data_handle());
  }

  // ---------------------------------------------------------------------------- int8
  // The image batch quantized to uint8 (q = round(x / scale), saturated), timed.
  QMem quantized_input(float scale) {
    memory x = input();
    memory y({{n_, 1, 28, 28}, u8, tag::nchw}, eng_);
    dnnl::primitive_attr attr;
    attr.set_output_scales(0, {1.f / scale});
    add(dnnl::reorder(x, y, attr), {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, y}});
    return {y, scale};
  }

  // k x k convolution of the int8 x with float weights w (OIHW) and bias b, quantized as the
  // file's header says: u8 x s8, int32 accumulation, requantized to `dst` with scale y_scale
  // (float32 when dst is f32: y_scale 1), ReLU fused when `relu`; with a shortcut, dst =
  // relu?(conv + shortcut) written over the shortcut's memory.
  QMem qconv(const QMem& x, const Layer& l, const std::vector<float>& w,
             const std::vector<float>& b, Same sh, Same sw, float y_scale,
             memory::data_type dst_type, bool relu, const QMem* shortcut = nullptr) {
    const memory::desc src({n_, l.in_c, l.in_h, l.in_w}, x.m.get_desc().data_type(), tag::any);
    const memory::dims wd{l.out, l.in_c, l.k, l.k};
    const memory::desc wts(wd, s8, tag::any), bias({l.out}, f32, tag::x);
    const memory::desc dst({n_, l.out, sh.out, sw.out}, dst_type, tag::any);
    dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, wts, bias,
        dst, {l.stride, l.stride}, {sh.before, sw.before}, {sh.after, sw.after});
    const auto ws = weight_scales(w, l.out);
    dnnl::primitive_attr attr = int8_attr(x.scale, ws, y_scale, relu, shortcut);
    dnnl::convolution_forward::primitive_desc pd(d, attr, eng_);
    note(shortcut ? "qconv+sum" : "qconv", pd.impl_info_str());
    memory s = as(x.m, pd.src_desc());
    memory wq = quantized_weights(w, wd, tag::oihw, pd.weights_desc(), ws);
    memory bq = filled(bias, accumulator_bias(b, x.scale, ws));
    memory y;
    if (shortcut) {
      // The shortcut in the dst's layout, in its own data type (same size), then shared.
      memory::desc want = pd.dst_desc();
      want.data.data_type = memory::convert_to_c(shortcut->m.get_desc().data_type());
      memory in_place = as(shortcut->m, want);
      y = memory(pd.dst_desc(), eng_, in_place.get_data_handle());
    } else {
      y = memory(pd.dst_desc(), eng_);
    }
    add(dnnl::convolution_forward(pd),
        {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, wq}, {DNNL_ARG_BIAS, bq}, {DNNL_ARG_DST, y}});
    return {y, y_scale};
  }

  // Max-pooling 2x2 or the global average of an int8 x: the same data type and scale.
  QMem qpool(const QMem& x, const Layer& l, bool global) {
    const memory::dims out =
        global ? memory::dims{n_, l.in_c, 1, 1} : memory::dims{n_, l.in_c, l.in_h / 2, l.in_w / 2};
    const memory::desc dst(out, x.m.get_desc().data_type(), tag::any);
    const memory::dims kernel = global ? memory::dims{l.in_h, l.in_w} : memory::dims{2, 2};
    const memory::dims strides = global ? memory::dims{1, 1} : memory::dims{2, 2};
    dnnl::pooling_forward::desc d(
        dnnl::prop_kind::forward_inference,
        global ? dnnl::algorithm::pooling_avg_exclude_padding : dnnl::algorithm::pooling_max,
        x.m.get_desc(), dst, strides, kernel, {0, 0}, {0, 0});
    dnnl::pooling_forward::primitive_desc pd(d, eng_);
    note(global ? "qavgpool" : "qpool", pd.impl_info_str());
    memory y(pd.dst_desc(), eng_);
    add(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, x.m}, {DNNL_ARG_DST, y}});
    return {y, x.scale};
  }

  // Inner product of the int8 x: u8 x s8 -> dst_type (u8 with scale y_scale, or f32: the
  // logits, which the graph's output becomes).
  QMem qdense(const QMem& x, const Layer& l, float y_scale, memory::data_type dst_type) {
    const bool spatial = x.m.get_desc().dims().size() == 4;
    const memory::dims sd =
        spatial ? memory::dims{n_, l.in_c, l.in_h, l.in_w} : memory::dims{n_, l.in_c};
    memory::dims wd = sd;
    wd[0] = l.out;
    const memory::desc src(sd, x.m.get_desc().data_type(), tag::any), wts(wd, s8, tag::any);
    const memory::desc bias({l.out}, f32, tag::x), dst({n_, l.out}, dst_type, tag::any);
    dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, src, wts, bias, dst);
    const auto ws = weight_scales(l.w, l.out);
    dnnl::inner_product_forward::primitive_desc pd(d, int8_attr(x.scale, ws, y_scale, l.relu),
                                                   eng_);
    note("qdense", pd.impl_info_str());
    memory s = as(x.m, pd.src_desc());
    memory wq = quantized_weights(l.w, wd, spatial ? tag::oihw : tag::oi, pd.weights_desc(), ws);
    memory bq = filled(bias, accumulator_bias(l.b, x.scale, ws));
    memory y(pd.dst_desc(), eng_);
    add(dnnl::inner_product_forward(pd),
        {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, wq}, {DNNL_ARG_BIAS, bq}, {DNNL_ARG_DST, y}});
    if (dst_type == f32) out_ = y;
    return {y, y_scale};
  }

  void forward() {
    for (auto& [p, args] : steps_) p.execute(strm_, args);
    strm_.wait();
  }

  float* input_data() { return static_cast<float*>(in_.get_data_handle()); }

  // The logits as N x 10, plain (reordered if the last primitive chose a blocked layout).
  std::vector<float> logits() {
    memory plain({{n_, 10}, f32, tag::nc}, eng_);
    dnnl::reorder(out_, plain).execute(strm_, out_, plain);
    strm_.wait();
    const float* p = static_cast<const float*>(plain.get_data_handle());
    return std::vector<float>(p, p + std::size_t(n_) * 10);
  }

  const std::vector<std::string>& implementations() const { return impls_; }

 private:
  // Post-ops: with `sum`, dst += result first (dst holding the shortcut); then ReLU if `relu`.
  static dnnl::primitive_attr relu_attr(bool relu, bool sum = false) {
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    if (sum) ops.append_sum(1.f);
    if (relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    if (sum || relu) attr.set_post_ops(ops);
    return attr;
  }

  // Requantization of an int8 primitive with input scale x_scale and weight scales ws to a
  // result of scale y_scale: output scales per output channel (dimension 1 of the dst) x_scale *
  // ws[o] / y_scale; then, with a shortcut, dst += (s_shortcut / y_scale) * shortcut (read in
  // the shortcut's data type); then ReLU if `relu`.
  static dnnl::primitive_attr int8_attr(float x_scale, const std::vector<float>& ws, float y_scale,
                                        bool relu, const QMem* shortcut = nullptr) {
    std::vector<float> os(ws.size());
    for (std::size_t o = 0; o < ws.size(); ++o) os[o] = x_scale * ws[o] / y_scale;
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, os);
    dnnl::post_ops ops;
    if (shortcut) ops.append_sum(shortcut->scale / y_scale, shortcut->m.get_desc().data_type());
    if (relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
    return attr;
  }

  // The bias in units of the int32 accumulator: b[o] / (x_scale * ws[o]).
  static std::vector<float> accumulator_bias(const std::vector<float>& b, float x_scale,
                                             const std::vector<float>& ws) {
    std::vector<float> q(b.size());
    for (std::size_t o = 0; o < b.size(); ++o) q[o] = b[o] / (x_scale * ws[o]);
    return q;
  }

  // Float weights (plain layout, output channel first) quantized to int8 into the primitive's
  // layout once, untimed, by a reorder with per-channel scales 1 / ws[o] (rounded to nearest).
  memory quantized_weights(const std::vector<float>& v, const memory::dims& dims, tag plain,
                           const memory::desc& want, const std::vector<float>& ws) {
    memory user = filled(memory::desc(dims, f32, plain), v);
    std::vector<float> inv(ws.size());
    for (std::size_t o = 0; o < ws.size(); ++o) inv[o] = 1.f / ws[o];
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 0, inv);
    memory m(want, eng_);
    dnnl::reorder(user, m, attr).execute(strm_, user, m);
    strm_.wait();
    return m;
  }

  // The convolution's weights and bias with the BatchNorm after it folded in: per filter o,
  // a = gamma / sqrt(var + eps), w' = w * a, b' = (b - mean) * a + beta.
 public:
  static void fold_batchnorm(const Layer& l, std::vector<float>& w, std::vector<float>& b) {
    const std::size_t per = l.w.size() / l.out;
    w.resize(l.w.size());
    b.resize(l.out);
    for (int o = 0; o < l.out; ++o) {
      const double a = l.gamma[o] / std::sqrt(double(l.var[o]) + kBatchNormEps);
      for (std::size_t i = o * per; i < (o + 1) * per; ++i) w[i] = float(l.w[i] * a);
      b[o] = float((double(l.b[o]) - l.mean[o]) * a + l.beta[o]);
    }
  }

 private:
  void add(dnnl::primitive p, std::unordered_map<int, memory> args) {
    steps_.emplace_back(std::move(p), std::move(args));
  }

  void note(const char* what, const std::string& impl) {
    impls_.push_back(std::string(what) + ":" + impl);
  }

  // Activation x in layout `want`, through a timed reorder when it differs.
  memory as(memory x, const memory::desc& want) {
    if (x.get_desc() == want) return x;
    memory y(want, eng_);
    add(dnnl::reorder(x, y), {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, y}});
    note("reorder", "activation");
    return y;
  }

  memory filled(const memory::desc& d, const std::vector<float>& v) {
    memory m(d, eng_);
    std::memcpy(m.get_data_handle(), v.data(), v.size() * sizeof(float));
    return m;
  }

  // Plain weights reordered once (untimed) into the primitive's layout.
  memory weights(const std::vector<float>& v, const memory::dims& dims, tag plain,
                 const memory::desc& want) {
    memory user = filled(memory::desc(dims, f32, plain), v);
    if (user.get_desc() == want) return user;
    memory m(want, eng_);
    dnnl::reorder(user, m).execute(strm_, user, m);
    strm_.wait();
    return m;
  }

  memory::dim n_;
  dnnl::engine eng_;
  dnnl::stream strm_;
  memory in_, out_;
  std::vector<std::pair<dnnl::primitive, std::unordered_map<int, memory>>> steps_;
  std::vector<std::string> impls_;
};

// ------------------------------------------------------------------------------ networks
Layer conv(int c, int h, int w, int filters, unsigned seed) {
  const float bound = std::sqrt(6.f / float(9 * c + 9 * filters));  // Glorot
  return {Layer::Conv3x3,
          c,
          h,
          w,
          filters,
          true,
          uniform(std::size_t(filters) * c * 9, bound, seed),
          {},
          uniform(filters, 0.05f, seed + 100)};
}
Layer pool(int c, int h, int w) {
  return {Layer::MaxPool2, c, h, w, c, false, {}, {}, {}};
}
Layer dense(int c, int h, int w, int units, bool relu, unsigned seed) {
  const int in = c * h * w;
  return {Layer::Dense,
          c,
          h,
          w,
          units,
          relu,
          uniform(std::size_t(units) * in, std::sqrt(6.f / float(in + units)), seed),
          {},
          uniform(units, 0.05f, seed + 100)};
}
Layer lstm(int c, int h, int w, int hidden, unsigned seed) {
  const int features = c * w;
  const float bound = 1.f / std::sqrt(float(hidden));
  return {Layer::Lstm,
          c,
          h,
          w,
          hidden,
          false,
          uniform(std::size_t(features) * 4 * hidden, bound, seed),
          uniform(std::size_t(hidden) * 4 * hidden, bound, seed + 1),
          uniform(std::size_t(4) * hidden, bound, seed + 2)};
}
// Convolution k x k, stride, "same" padding, then BatchNorm with running statistics of plausible
// size (var in [0.5, 1.5]), so that --check sees the folding.
Layer conv_bn(int c, int h, int w, int filters, int k, int stride, bool relu, unsigned seed) {
  const float bound = std::sqrt(6.f / float(k * k * (c + filters)));  // Glorot
  Layer l{Layer::ConvBn, c, h, w, filters, relu, {}, {}, {}};
  l.w = uniform(std::size_t(filters) * c * k * k, bound, seed);
  l.b = uniform(filters, 0.05f, seed + 100);
  l.k = k;
  l.stride = stride;
  l.gamma = uniform(filters, 0.2f, seed + 200);
  l.beta = uniform(filters, 0.1f, seed + 300);
  l.mean = uniform(filters, 0.1f, seed + 400);
  l.var = uniform(filters, 0.5f, seed + 500);
  for (int o = 0; o < filters; ++o) l.gamma[o] += 1.f, l.var[o] += 1.f;
  return l;
}
// A basic block: conv 3x3 (stride) + BN + ReLU, conv 3x3 + BN, plus x or, when the shape changes,
// conv 1x1 (stride) + BN of x; then ReLU.
Layer block(int c, int h, int w, int filters, int stride, unsigned seed) {
  const int oh = same(h, 3, stride).out, ow = same(w, 3, stride).out;
  Layer l{Layer::Block, c, h, w, filters, true, {}, {}, {}};
  l.body = {conv_bn(c, h, w, filters, 3, stride, true, seed),
            conv_bn(filters, oh, ow, filters, 3, 1, false, seed + 1)};
  if (stride != 1 || c != filters)
    l.shortcut = {conv_bn(c, h, w, filters, 1, stride, false, seed + 2)};
  return l;
}
Layer global_avgpool(int c, int h, int w) {
  return {Layer::GlobalAvgPool, c, h, w, c, false, {}, {}, {}};
}

// Conv 16 3x3 + BN + ReLU, three stages of two blocks (16, 32, 64 filters; stride 2 into the
// second and third: 28x28, 14x14, 7x7), global average pooling, Dense 10.
std::vector<Layer> resnet() {
  std::vector<Layer> layers{conv_bn(1, 28, 28, 16, 3, 1, true, 11)};
  const int spec[6][2] = {{16, 1}, {16, 1}, {32, 2}, {32, 1}, {64, 2}, {64, 1}};
  int c = 16, hw = 28;
  unsigned seed = 12;
  for (const auto& [filters, stride] : spec) {
    layers.push_back(block(c, hw, hw, filters, stride, seed));
    c = filters, hw = same(hw, 3, stride).out, seed += 3;
  }
  layers.push_back(global_avgpool(c, hw, hw));
  layers.push_back(dense(c, 1, 1, 10, false, 30));
  return layers;
}

// The layers of examples/networks.hpp (activations fused into the layer before them).
std::vector<Layer> network(const std::string& name) {
  if (name == "cnn")
    return {conv(1, 28, 28, 32, 1),        conv(32, 26, 26, 64, 2), pool(64, 24, 24),
            conv(64, 12, 12, 64, 3),       pool(64, 10, 10),        dense(64, 5, 5, 128, true, 4),
            dense(128, 1, 1, 10, false, 5)};
  if (name == "lstm") return {lstm(1, 28, 28, 128, 6), dense(128, 1, 1, 10, false, 7)};
  if (name == "resnet") return resnet();
  return {conv(1, 28, 28, 32, 8), pool(32, 26, 26), lstm(32, 13, 13, 256, 9),
          dense(256, 1, 1, 10, false, 10)};
}

std::size_t parameter_count(const std::vector<Layer>& layers) {
  std::size_t n = 0;
  for (const auto& l : layers)
    n += l.w.size() + l.w_iter.size() + l.b.size() + l.gamma.size() + l.beta.size() +
         parameter_count(l.body) + parameter_count(l.shortcut);  // not BN's running statistics
  return n;
}

void build(Graph& g, const std::vector<Layer>& layers) {
  memory x = g.input();
  for (const auto& l : layers) {
    switch (l.kind) {
      case Layer::Conv3x3:
        x = g.conv3x3(x, l);
        break;
      case Layer::MaxPool2:
        x = g.maxpool2(x, l);
        break;
      case Layer::Dense:
        x = g.dense(x, l);
        break;
      case Layer::Lstm:
        x = g.lstm(x, l);
        break;
      case Layer::ConvBn:
        x = g.conv_bn(x, l);
        break;
      case Layer::Block:
        x = g.block(x, l);
        break;
      case Layer::GlobalAvgPool:
        x = g.global_avgpool(x, l);
        break;
    }
  }
}

// Whether the CPU has an int8 dot product without int16 intermediates (vpdpbusd).
bool has_vnni() {
  return __builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni");
}

// The int8 graph of `layers` (calibrated: every amax set) for images of largest value in_max.
void build_int8(Graph& g, const std::vector<Layer>& layers, float in_max) {
  const float levels = has_vnni() ? 255.f : 127.f;  // of a uint8 activation, see the header
  auto u8_scale = [levels](float amax) { return amax > 0.f ? amax / levels : 1.f; };
  auto s8_scale = [](float amax) { return amax > 0.f ? amax / 127.f : 1.f; };
  QMem x = g.quantized_input(u8_scale(in_max));
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    std::vector<float> w, b;
    if (l.kind == Layer::Conv3x3) {
      const Same sh{l.in_h - 2, 0, 0}, sw{l.in_w - 2, 0, 0};
      x = g.qconv(x, l, l.w, l.b, sh, sw, u8_scale(l.amax), u8, l.relu);
    } else if (l.kind == Layer::ConvBn) {
      Graph::fold_batchnorm(l, w, b);
      x = g.qconv(x, l, w, b, same(l.in_h, l.k, l.stride), same(l.in_w, l.k, l.stride),
                  u8_scale(l.amax), u8, l.relu);
    } else if (l.kind == Layer::Block) {
      QMem s = x;
      for (const auto& p : l.shortcut) {  // projection: no ReLU, so int8
        Graph::fold_batchnorm(p, w, b);
        s = g.qconv(s, p, w, b, same(p.in_h, p.k, p.stride), same(p.in_w, p.k, p.stride),
                    s8_scale(p.amax), s8, false);
      }
      QMem y = x;
      for (std::size_t j = 0; j < l.body.size(); ++j) {
        const Layer& c = l.body[j];
        Graph::fold_batchnorm(c, w, b);
        const bool last = j + 1 == l.body.size();
        y = g.qconv(y, c, w, b, same(c.in_h, c.k, c.stride), same(c.in_w, c.k, c.stride),
                    u8_scale(last ? l.amax : c.amax), u8, last ? l.relu : c.relu,
                    last ? &s : nullptr);
      }
      x = y;
    } else if (l.kind == Layer::MaxPool2 || l.kind == Layer::GlobalAvgPool) {
      x = g.qpool(x, l, l.kind == Layer::GlobalAvgPool);
    } else if (l.kind == Layer::Lstm) {
      x = {g.lstm(x.m, l, x.scale), 0.f};
    } else if (x.scale == 0.f) {  // a Dense after the LSTM: float32
      x = {g.dense(x.m, l), 0.f};
    } else {
      const bool last = i + 1 == layers.size();
      x = g.qdense(x, l, last ? 1.f : u8_scale(l.amax), last ? f32 : u8);
    }
  }
}

// ------------------------------------------------------------------------------ plain forward
// One image, activations C x H x W, for --check.
std::vector<float> plain_forward(const std::vector<Layer>& layers, std::vector<float> x) {
  for (const auto& l : layers) {
    std::vector<float> y;
    const int C = l.in_c, H = l.in_h, W = l.in_w;
    auto at = [&](int c, int h, int w) { return x[(std::size_t(c) * H + h) * W + w]; };
    if (l.kind == Layer::Conv3x3) {
      const int oh = H - 2, ow = W - 2;
      y.assign(std::size_t(l.out) * oh * ow, 0.f);
      for (int o = 0; o < l.out; ++o)
        for (int i = 0; i < oh; ++i)
          for (int j = 0; j < ow; ++j) {
            double s = l.b[o];
            for (int c = 0; c < C; ++c)
              for (int ki = 0; ki < 3; ++ki)
                for (int kj = 0; kj < 3; ++kj)
                  s += double(l.w[((std::size_t(o) * C + c) * 3 + ki) * 3 + kj]) *
                       at(c, i + ki, j + kj);
            y[(std::size_t(o) * oh + i) * ow + j] = float(l.relu ? std::max(s, 0.0) : s);
          }
    } else if (l.kind == Layer::ConvBn) {
      const Same sh = same(H, l.k, l.stride), sw = same(W, l.k, l.stride);
      const int oh = sh.out, ow = sw.out, k = l.k;
      y.assign(std::size_t(l.out) * oh * ow, 0.f);
      for (int o = 0; o < l.out; ++o)
        for (int i = 0; i < oh; ++i)
          for (int j = 0; j < ow; ++j) {
            double s = l.b[o];
            for (int c = 0; c < C; ++c)
              for (int ki = 0; ki < k; ++ki)
                for (int kj = 0; kj < k; ++kj) {
                  const int r = i * l.stride + ki - sh.before, q = j * l.stride + kj - sw.before;
                  if (r < 0 || r >= H || q < 0 || q >= W) continue;  // zero padding
                  s += double(l.w[((std::size_t(o) * C + c) * k + ki) * k + kj]) * at(c, r, q);
                }
            s = (s - l.mean[o]) / std::sqrt(double(l.var[o]) + kBatchNormEps) * l.gamma[o] +
                l.beta[o];
            y[(std::size_t(o) * oh + i) * ow + j] = float(l.relu ? std::max(s, 0.0) : s);
          }
    } else if (l.kind == Layer::Block) {
      y = plain_forward(l.body, x);
      const auto r = plain_forward(l.shortcut, x);
      for (std::size_t i = 0; i < y.size(); ++i) {
        const double s = double(y[i]) + r[i];
        y[i] = float(l.relu ? std::max(s, 0.0) : s);
      }
    } else if (l.kind == Layer::GlobalAvgPool) {
      y.resize(C);
      for (int c = 0; c < C; ++c) {
        double s = 0;
        for (int i = 0; i < H * W; ++i) s += x[std::size_t(c) * H * W + i];
        y[c] = float(s / (H * W));
      }
    } else if (l.kind == Layer::MaxPool2) {
      const int oh = H / 2, ow = W / 2;
      y.resize(std::size_t(C) * oh * ow);
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < oh; ++i)
          for (int j = 0; j < ow; ++j)
            y[(std::size_t(c) * oh + i) * ow + j] =
                std::max({at(c, 2 * i, 2 * j), at(c, 2 * i, 2 * j + 1), at(c, 2 * i + 1, 2 * j),
                          at(c, 2 * i + 1, 2 * j + 1)});
    } else if (l.kind == Layer::Dense) {
      const std::size_t in = x.size();
      y.resize(l.out);
      for (int o = 0; o < l.out; ++o) {
        double s = l.b[o];
        for (std::size_t i = 0; i < in; ++i) s += double(l.w[o * in + i]) * x[i];
        y[o] = float(l.relu ? std::max(s, 0.0) : s);
      }
    } else {
      const int Hd = l.out;
      std::vector<double> h(Hd, 0.0), cell(Hd, 0.0), g(4 * std::size_t(Hd));
      auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
      for (int t = 0; t < H; ++t) {
        for (int k = 0; k < 4 * Hd; ++k) g[k] = l.b[k];
        for (int w = 0; w < W; ++w)
          for (int c = 0; c < C; ++c) {
            const double v = at(c, t, w);
            const float* row = &l.w[std::size_t(w * C + c) * 4 * Hd];
            for (int k = 0; k < 4 * Hd; ++k) g[k] += row[k] * v;
          }
        for (int j = 0; j < Hd; ++j) {
          const float* row = &l.w_iter[std::size_t(j) * 4 * Hd];
          for (int k = 0; k < 4 * Hd; ++k) g[k] += row[k] * h[j];
        }
        for (int j = 0; j < Hd; ++j) {
          const double i = sigmoid(g[j]), f = sigmoid(g[Hd + j]), c = std::tanh(g[2 * Hd + j]),
                       o = sigmoid(g[3 * Hd + j]);
          cell[j] = f * cell[j] + i * c;
          h[j] = o * std::tanh(cell[j]);
        }
      }
      y.assign(h.begin(), h.end());
    }
    for (const float v : y) l.amax = std::max(l.amax, std::fabs(v));
    x = std::move(y);
  }
  return x;
}

// ------------------------------------------------------------------------------ measurements
void fill_images(Graph& g, int n) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  float* p = g.input_data();
  for (std::size_t i = 0; i < std::size_t(n) * 784; ++i) p[i] = u(gen);
}

// Calibration of the int8 networks: 64 synthetic images (another seed than the timed ones)
// through the plain forward, which records each layer's largest |output|. Returns the largest
// pixel.
float calibrate(const std::vector<Layer>& layers) {
  std::mt19937 gen(4);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  float in_max = 0.f;
  for (int n = 0; n < 64; ++n) {
    std::vector<float> image(784);
    for (auto& p : image) in_max = std::max(in_max, p = u(gen));
    plain_forward(layers, image);
  }
  return in_max;
}

// The graph of `layers` for batch n: float32, or int8 after calibration.
void build_graph(Graph& g, const std::vector<Layer>& layers, bool int8) {
  if (int8)
    build_int8(g, layers, calibrate(layers));
  else
    build(g, layers);
}

double median_seconds(Graph& g, int runs, int warmup) {
  for (int i = 0; i < warmup; ++i) g.forward();
  std::vector<double> s(runs);
  for (auto& v : s) {
    const auto t0 = clk::now();
    g.forward();
    v = std::chrono::duration<double>(clk::now() - t0).count();
  }
  return peer::median(s);
}

void print_impls(const std::string& net, const char* m, const Graph& g) {
  std::printf("# %s %s primitives:", net.c_str(), m);
  for (const auto& s : g.implementations()) std::printf(" %s", s.c_str());
  std::printf("\n");
}

int check(const std::set<std::string>& nets, bool int8) {
  constexpr int B = 3;
  int bad = 0;
  for (const auto& name : nets) {
    if (int8 && name == "lstm") continue;
    const auto layers = network(name);
    Graph g(B);
    build_graph(g, layers, int8);
    fill_images(g, B);
    g.forward();
    const auto got = g.logits();
    double worst = 0, scale = 0;
    for (int n = 0; n < B; ++n) {
      const float* image = g.input_data() + std::size_t(n) * 784;
      const auto want = plain_forward(layers, std::vector<float>(image, image + 784));
      for (int k = 0; k < 10; ++k) {
        worst = std::max(worst, double(std::fabs(want[k] - got[n * 10 + k])));
        scale = std::max(scale, double(std::fabs(want[k])));
      }
    }
    // int8: quantization error, at most 8% of the largest logit; float32: rounding.
    const bool ok = worst <= (int8 ? 0.08 * scale : 1e-4 * std::max(1.0, scale));
    std::printf(
        "# check %s%s: %zu parameters, max |oneDNN - plain| = %.3g (logits up to %.3g): "
        "%s\n",
        name.c_str(), int8 ? " int8" : "", parameter_count(layers), worst, scale,
        ok ? "ok" : "MISMATCH");
    bad += !ok;
  }
  return bad ? 1 : 0;
}

void usage() {
  std::puts(
      "usage: onednn_bench [--quick] [--check] [--int8] [--nets cnn,lstm,crnn,resnet]\n"
      "                    [--measures M1,M2] [--m1-iters N] [--m2-runs N] [--threads N]\n"
      "Prints `network,measure,library,threads,median,unit` lines; other lines start with #.\n"
      "--int8: the CNN, the ResNet and the CRNN's convolutional part quantized to int8 (library\n"
      "onednn-int8; the LSTM has no int8 figure).\n"
      "--quick: a smoke run (M1 200 forwards, M2 5 batches). --check: compare with a plain "
      "forward.\n"
      "--threads: threads of M2 (default 2; M1 uses 1).");
}

}  // namespace

int main(int argc, char** argv) {
  std::set<std::string> nets{"cnn", "lstm", "crnn", "resnet"}, measures{"M1", "M2"};
  int m1_iters = 2000, m1_warmup = 200, m2_runs = 30, m2_warmup = 5, threads = 2;
  bool check_only = false, int8 = false;
  for (peer::Args a(argc, argv); a.next();) {
    if (a.is("--quick")) {
      m1_iters = 200, m1_warmup = 20, m2_runs = 5, m2_warmup = 1;
    } else if (a.is("--check")) {
      check_only = true;
    } else if (a.is("--int8")) {
      int8 = true;
    } else if (a.is("--nets")) {
      nets = split(a.value());
    } else if (a.is("--measures")) {
      measures = split(a.value());
    } else if (a.is("--m1-iters")) {
      m1_iters = a.int_value();
    } else if (a.is("--m2-runs")) {
      m2_runs = a.int_value();
    } else if (a.is("--threads")) {
      threads = a.int_value();
    } else if (a.is("--help") || a.is("-h")) {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.current().c_str());
      usage();
      return 2;
    }
  }
  const auto* v = dnnl_version();
  std::printf("# oneDNN %d.%d.%d (%s), threads for M2 %d\n", v->major, v->minor, v->patch,
              v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime", threads);
  if (int8)
    std::printf("# int8: uint8 activations in 0..%d (%s)\n", has_vnni() ? 255 : 127,
                has_vnni() ? "VNNI" : "no VNNI: 7 bits against vpmaddubsw's int16 saturation");
  if (check_only) return check(nets, int8);
  const char* library = int8 ? "onednn-int8" : "onednn";

  for (const std::string name : {"cnn", "lstm", "crnn", "resnet"}) {
    if (!nets.count(name)) continue;
    if (int8 && name == "lstm") {
      std::printf("# lstm: no int8 network (its LSTM stays float32 in this program)\n");
      continue;
    }
    const auto layers = network(name);
    if (measures.count("M1")) {
      omp_set_num_threads(1);
      Graph g(1);
      build_graph(g, layers, int8);
      fill_images(g, 1);
      print_impls(name, "M1", g);
      const double s = median_seconds(g, m1_iters, m1_warmup);
      peer::emit(library, name, "M1", 1, s * 1e6, "us");
    }
    if (measures.count("M2")) {
      omp_set_num_threads(threads);
      Graph g(256);
      build_graph(g, layers, int8);
      fill_images(g, 256);
      print_impls(name, "M2", g);
      const double s = median_seconds(g, m2_runs, m2_warmup);
      peer::emit(library, name, "M2", threads, 256 / s, "images/s");
    }
    std::fflush(stdout);
  }
  return 0;
}
