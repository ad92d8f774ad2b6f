// tests/fuzz/make_corpus.cpp — writes the fuzzers' seed corpora: a few small valid files and
// slightly broken ones (truncated, trailing bytes, a flipped byte, a wrong field) per reader.
// Usage: ctnn_fuzz_make_corpus <dir>   writes <dir>/fuzz_idx/, <dir>/fuzz_model_file/,
// <dir>/fuzz_image/ and, when built with CTNN_FUZZ_SAFETENSORS=1, <dir>/fuzz_safetensors/. The
// output is deterministic. The preset "fuzz" builds it (with safetensors):
//   build/fuzz/tests/fuzz/ctnn_fuzz_make_corpus tests/fuzz/corpus
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

#if CTNN_FUZZ_SAFETENSORS
#include <ctnn/io/safetensors.hpp>
#include <nlohmann/json.hpp>
#endif

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const Bytes& b) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!f) throw std::runtime_error("cannot write " + (dir / name).string());
}

Bytes read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

Bytes gzip(const Bytes& in) {
  z_stream s{};
  if (deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  Bytes out(deflateBound(&s, in.size()) + 32);
  s.next_in = const_cast<Bytes::value_type*>(in.data());
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(s.total_out);
  deflateEnd(&s);
  // Fixed header time and OS bytes, so the output does not depend on when or where it is made.
  out[4] = out[5] = out[6] = out[7] = 0;
  out[9] = 3;
  return out;
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes cut(Bytes a, std::size_t n) {
  a.resize(a.size() - n);
  return a;
}

Bytes idx(std::uint8_t type, const std::vector<std::uint32_t>& dims, std::uint8_t seed) {
  Bytes b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  std::size_t total = 1;
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
    total *= d;
  }
  for (std::size_t i = 0; i < total && total < 4096; ++i)
    b.push_back(static_cast<std::uint8_t>(seed + 37 * i));
  return b;
}

void idx_corpus() {
  const std::string t = "fuzz_idx";
  const Bytes images = idx(8, {2, 3, 3}, 1);  // two 3 x 3 images (the fixed label file has 2)
  put(t, "images_2x3x3.idx", images);
  put(t, "images_2x2x2x3.idx", idx(8, {2, 2, 2, 3}, 5));
  put(t, "vector_5.idx", idx(8, {5}, 9));
  put(t, "labels_0_1.idx", Bytes{0, 0, 8, 1, 0, 0, 0, 2, 0, 1});
  put(t, "labels_out_of_range.idx", Bytes{0, 0, 8, 1, 0, 0, 0, 2, 2, 7});
  put(t, "labels_count_3.idx", Bytes{0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 2});
  put(t, "images_2x3x3.idx.gz", gzip(images));
  put(t, "images_two_gzip_members.gz",
      cat(gzip(Bytes(images.begin(), images.begin() + 9)),
          gzip(Bytes(images.begin() + 9, images.end()))));
  put(t, "images_gzip_cut.gz", cut(gzip(images), 5));
  put(t, "images_gzip_trailing_garbage.gz", cat(gzip(images), Bytes{1, 2, 3}));
  put(t, "images_truncated.idx", cut(images, 3));
  put(t, "images_trailing.idx", cat(images, Bytes{0xAA, 0xBB}));
  put(t, "type_float.idx", idx(0x0D, {2, 2}, 3));
  put(t, "dims_5.idx",
      Bytes{0, 0, 8, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7});
  put(t, "dim_zero.idx", Bytes{0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 4});
  put(t, "dims_huge.idx",
      Bytes{0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0, 0, 0, 9, 1});
  put(t, "header_short.idx", Bytes{0, 0, 8, 3, 0, 0});
  // Declares 2,000,000 images of 28 x 28 and holds 64 KiB of them: the buffer must grow with
  // the data, not with the declaration.
  put(t, "images_declared_2000000.gz",
      cat(gzip(Bytes{0, 0, 8, 3, 0, 0x1E, 0x84, 0x80, 0, 0, 0, 28, 0, 0, 0, 28}),
          gzip(Bytes(std::size_t{1} << 16, 0))));
}

void model_corpus() {
  const std::string t = "fuzz_model_file";
  const fs::path tmp = g_root / "model.tmp";
  ctnn_fuzz::ModelNet net(3);
  ctnn::save(net, tmp.string());
  const Bytes valid = read_all(tmp);
  put(t, "valid.model", valid);
  put(t, "truncated.model", cut(valid, 7));
  put(t, "trailing.model", cat(valid, Bytes{0, 0, 0, 0}));
  Bytes flipped = valid;
  flipped[valid.size() - 20] ^= 0x40;  // a parameter: CRC mismatch
  put(t, "crc_mismatch.model", flipped);
  Bytes ver = valid;
  ver[8] = 4;  // a version this build does not read
  put(t, "version_4.model", ver);
  Bytes sig = valid;
  sig[14] = 0x10;  // signature length (about 1 MB) far beyond the file
  put(t, "signature_length.model", sig);
  put(t, "magic_only.model", Bytes(valid.begin(), valid.begin() + 8));

  // Format 3's tensor table: the count (a u32 after the counts), then per tensor its name's
  // length, name, kind, rank and dims. The first tensor is ModelNet's "0.weight" [2, 1, 3, 3].
  const std::size_t table = 16 + ctnn_fuzz::ModelNet::signature().size() + 24;
  Bytes count = valid;
  count[table] ^= 0x01;  // one tensor more or fewer than the network has
  put(t, "table_count.model", count);
  Bytes dim = valid;
  dim[table + 4 + 4 + 8 + 4 + 4 + 8] = 2;  // "0.weight" [2, 1, 3, 3] -> [2, 2, 3, 3]
  put(t, "table_shape.model", dim);
  Bytes name = valid;
  name[table + 4] = 0x20;  // the first name 32 bytes long
  put(t, "table_name_length.model", name);

  // Format 2, as 0.2.0 wrote it: no table, parameters() and state() as they are in memory.
  {
    const std::string s = ctnn_fuzz::ModelNet::signature();
    Bytes b;
    using namespace ctnn::io::detail;
    append(b, magic, 8);
    ctnn::io::detail::put<std::uint32_t>(b, 2);
    ctnn::io::detail::put<std::uint32_t>(b, static_cast<std::uint32_t>(s.size()));
    append(b, s.data(), s.size());
    ctnn::io::detail::put<std::uint64_t>(b, fnv1a64(s));
    ctnn::io::detail::put<std::uint64_t>(b, ctnn_fuzz::ModelNet::parameter_count);
    ctnn::io::detail::put<std::uint64_t>(b, ctnn_fuzz::ModelNet::state_count);
    for (float v : net.parameters()) ctnn::io::detail::put<float>(b, v);
    for (float v : net.state()) ctnn::io::detail::put<float>(b, v);
    ctnn::io::detail::put<std::uint32_t>(b, crc32_of(b.data(), b.size()));
    put(t, "valid_format2.model", b);
  }

  using Other =
      ctnn::Sequential<ctnn::Input<6, 6, 1>, ctnn::Conv2D<2, 3>, ctnn::ReLU, ctnn::Dense<4>>;
  Other other(4);
  ctnn::save(other, tmp.string());
  put(t, "other_network.model", read_all(tmp));
  fs::remove(tmp);

  // An intact file whose signature's first layer line is 1,000 characters: the message quotes
  // at most 200 of them.
  std::string long_sig = ctnn_fuzz::ModelNet::signature();
  const std::size_t line = long_sig.find('\n') + 1;
  long_sig.replace(line, long_sig.find('\n', line) - line, std::string(1000, 'x'));
  Bytes b(valid.begin(), valid.begin() + 12);
  for (int s = 0; s < 32; s += 8) b.push_back(static_cast<std::uint8_t>(long_sig.size() >> s));
  b.insert(b.end(), long_sig.begin(), long_sig.end());
  const std::uint64_t hash = ctnn::io::detail::fnv1a64(long_sig);
  for (int s = 0; s < 64; s += 8) b.push_back(static_cast<std::uint8_t>(hash >> s));
  const std::size_t counts = 16 + ctnn_fuzz::ModelNet::signature().size() + 8;
  b.insert(b.end(), valid.begin() + std::ptrdiff_t(counts), valid.end() - 4);
  const std::uint32_t crc = ctnn::io::detail::crc32_of(b.data(), b.size());
  for (int s = 0; s < 32; s += 8) b.push_back(static_cast<std::uint8_t>(crc >> s));
  put(t, "signature_long_line.model", b);
}

#if CTNN_FUZZ_SAFETENSORS
// A safetensors file: the u64 header length, the header, the data buffer.
Bytes safetensors(const std::string& header, const Bytes& buffer) {
  Bytes b;
  for (int s = 0; s < 64; s += 8) b.push_back(static_cast<std::uint8_t>(header.size() >> s));
  b.insert(b.end(), header.begin(), header.end());
  return cat(b, buffer);
}

void safetensors_corpus() {
  const std::string t = "fuzz_safetensors";
  const fs::path tmp = g_root / "model.tmp";
  ctnn_fuzz::SafetensorsNet net(5);
  ctnn::save_safetensors(net, tmp.string());
  const Bytes valid = read_all(tmp);
  fs::remove(tmp);
  put(t, "valid.safetensors", valid);
  put(t, "truncated.safetensors", cut(valid, 9));
  put(t, "header_length_only.safetensors", Bytes(valid.begin(), valid.begin() + 8));
  Bytes len = valid;
  len[5] = 0x7F;  // header length far beyond the file
  put(t, "header_length_huge.safetensors", len);

  std::size_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | valid[std::size_t(i)];
  const Bytes buffer(valid.begin() + 8 + std::ptrdiff_t(n), valid.end());
  const auto header =
      nlohmann::ordered_json::parse(valid.begin() + 8, valid.begin() + 8 + std::ptrdiff_t(n));
  auto variant = [&](const char* name, auto&& edit, const Bytes& buf) {
    nlohmann::ordered_json h = header;
    edit(h);
    put(t, name, safetensors(h.dump(), buf));
  };
  variant(
      "unpadded_no_metadata.safetensors", [](auto& h) { h.erase("__metadata__"); }, buffer);
  variant(
      "missing_tensor.safetensors", [](auto& h) { h.erase("3.bias"); }, buffer);
  variant(
      "extra_tensor.safetensors",
      [](auto& h) {
        h["9.weight"] = {{"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
      },
      buffer);
  variant(
      "dtype_f16.safetensors", [](auto& h) { h["0.bias"]["dtype"] = "F16"; }, buffer);
  variant(
      "shape_swapped.safetensors",
      [](auto& h) {
        h["3.weight"]["shape"] = {3, 2};
      },
      buffer);
  variant(
      "overlap.safetensors",
      [](auto& h) {
        h["0.bias"]["data_offsets"] = {0, 8};
      },
      buffer);
  variant(
      "offsets_reversed.safetensors",
      [](auto& h) {
        auto& o = h["3.bias"]["data_offsets"];
        std::swap(o[0], o[1]);
      },
      buffer);
  variant(
      "offsets_negative.safetensors", [](auto& h) { h["3.bias"]["data_offsets"][0] = -8; }, buffer);
  variant(
      "metadata_number.safetensors", [](auto& h) { h["__metadata__"]["format"] = 1; }, buffer);
  variant(
      "buffer_short.safetensors", [](auto&) {}, cut(buffer, 4));
  variant(
      "gap_in_buffer.safetensors",
      [](auto& h) {
        for (auto& [name, e] : h.items())
          if (name != "__metadata__")
            for (auto& o : e["data_offsets"]) o = o.template get<std::uint64_t>() + 16;
      },
      cat(Bytes(16, 0), buffer));
  put(t, "not_json.safetensors", safetensors("{\"0.weight\": [1, 2", buffer));
  put(t, "json_array.safetensors", safetensors("[1, 2, 3]", Bytes{}));

  // Keys that appear twice: a tensor name (the second entry used to win), a field of an entry,
  // a key of __metadata__.
  const std::string text = header.dump();
  const auto inserted = [&](const std::string& after, const std::string& extra) {
    const std::size_t at = text.find(after) + after.size();
    return text.substr(0, at) + extra + text.substr(at);
  };
  nlohmann::ordered_json moved = header["0.bias"];
  moved["data_offsets"] = header["3.bias"]["data_offsets"];
  put(t, "duplicate_tensor.safetensors",
      safetensors(inserted("{", "\"0.bias\":" + moved.dump() + ","), buffer));
  put(t, "duplicate_field.safetensors",
      safetensors(inserted("\"0.bias\":{", "\"dtype\":\"F16\","), buffer));
  put(t, "duplicate_metadata_key.safetensors",
      safetensors(inserted("\"__metadata__\":{", "\"format\":\"np\","), buffer));
  // Long file content that messages quote: an unterminated string, a tensor name, a dtype and a
  // list of unexpected tensors.
  put(t, "unterminated_long_string.safetensors",
      safetensors("{\"" + std::string(4000, 'x'), Bytes{}));
  variant(
      "long_name.safetensors", [](auto& h) { h[std::string(1000, 'n')] = 1; }, buffer);
  variant(
      "long_dtype.safetensors", [](auto& h) { h["0.bias"]["dtype"] = std::string(1000, 'd'); },
      buffer);
  variant(
      "many_unexpected.safetensors",
      [](auto& h) {
        for (int i = 0; i < 100; ++i)
          h["extra" + std::to_string(i)] = {
              {"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
      },
      buffer);
  // The parser's limits and its worst cases: nesting at and past 32 levels (deep_32 is read,
  // deep_33 refused), many small objects (each with a key), a key twice deep inside an entry.
  const auto nested = [](int depth) {
    return "{\"x\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  put(t, "deep_32.safetensors", safetensors(nested(32), Bytes{}));
  put(t, "deep_33.safetensors", safetensors(nested(33), Bytes{}));
  std::string many = "{\"x\":[";
  for (int i = 0; i < 800; ++i) many += "{\"k\":0},";
  put(t, "many_objects.safetensors", safetensors(many + "{}]}", Bytes{}));
  put(t, "duplicate_nested_key.safetensors",
      safetensors("{\"x\":{\"shape\":[{\"a\":1,\"b\":[],\"a\":2}]}}", Bytes{}));
  // Not a safetensors file: a zip archive's first bytes read as the header length.
  put(t, "zip_archive.safetensors",
      Bytes{'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 'a', 'b', 'c', 'd', 'e', 'f'});
}
#endif

void sink(void* ctx, void* data, int size) {
  auto* out = static_cast<Bytes*>(ctx);
  const auto* p = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

Bytes pixels(int w, int h, int comp, int seed) {
  Bytes px(std::size_t(w) * std::size_t(h) * std::size_t(comp));
  for (std::size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<std::uint8_t>(seed + 29 * i + (i * i) % 7);
  return px;
}

void image_corpus() {
  const std::string t = "fuzz_image";
  auto png = [](int w, int h, int comp, int seed) {
    Bytes out;
    if (!stbi_write_png_to_func(sink, &out, w, h, comp, pixels(w, h, comp, seed).data(), w * comp))
      std::abort();
    return out;
  };
  const Bytes grey = png(8, 8, 1, 1);
  put(t, "grey_8x8.png", grey);
  put(t, "rgb_7x5.png", png(7, 5, 3, 2));
  put(t, "rgba_3x3.png", png(3, 3, 4, 3));
  put(t, "grey_alpha_4x4.png", png(4, 4, 2, 4));
  put(t, "rgb_12x10.png", png(12, 10, 3, 5));
  put(t, "grey_1x1.png", png(1, 1, 1, 6));
  put(t, "grey_8x8_truncated.png", cut(grey, 20));
  Bytes sig = grey;
  sig[1] = 'Q';
  put(t, "bad_signature.png", sig);

  Bytes out;
  stbi_write_bmp_to_func(sink, &out, 6, 4, 3, pixels(6, 4, 3, 7).data());
  put(t, "rgb_6x4.bmp", out);
  out.clear();
  stbi_write_bmp_to_func(sink, &out, 8, 8, 1, pixels(8, 8, 1, 8).data());
  put(t, "grey_8x8.bmp", out);
  out.clear();
  stbi_write_tga_to_func(sink, &out, 5, 7, 3, pixels(5, 7, 3, 9).data());
  put(t, "rgb_5x7_rle.tga", out);
  out.clear();
  stbi_write_jpg_to_func(sink, &out, 8, 8, 3, pixels(8, 8, 3, 10).data(), 60);
  put(t, "rgb_8x8.jpg", out);
  out.clear();
  stbi_write_jpg_to_func(sink, &out, 9, 6, 1, pixels(9, 6, 1, 11).data(), 90);
  put(t, "grey_9x6.jpg", out);
  out.clear();
  const float hdr[] = {0.1f, 0.5f, 2.0f, 0.0f, 1.0f, 0.25f, 8.0f, 0.75f, 0.3f, 0.6f, 0.9f, 1.5f};
  stbi_write_hdr_to_func(sink, &out, 2, 2, 3, hdr);
  put(t, "rgb_2x2.hdr", out);

  put(t, "grey_3x2.pgm",
      cat(Bytes{'P', '5', '\n', '3', ' ', '2', '\n', '2', '5', '5', '\n'}, pixels(3, 2, 1, 12)));
  put(t, "rgb_2x2.ppm",
      cat(Bytes{'P', '6', ' ', '2', ' ', '2', ' ', '2', '5', '5', '\n'}, pixels(2, 2, 3, 13)));
  // The smallest GIF: one white pixel.
  put(t, "white_1x1.gif",
      Bytes{'G',  'I', 'F', '8', '9', 'a',  1, 0, 1, 0,   0x80, 0, 0,   0xFF, 0xFF,
            0xFF, 0,   0,   0,   '!', 0xF9, 4, 1, 0, 0,   0,    0, ',', 0,    0,
            0,    0,   1,   0,   1,   0,    0, 2, 2, 'D', 1,    0, ';'});

  // Files load_image refuses before decoding. A Radiance HDR scanline cut after its RLE header:
  // stb_image 2.27 reads run counts of 0 past the end and never advances (CVE-2021-42715).
  const std::string hang = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 8\n";
  put(t, "rle_count_0.hdr", cat(Bytes(hang.begin(), hang.end()), Bytes{2, 2, 0, 8}));
  // Headers declaring 16384 x 16384 pixels (the most load_image takes) and no pixel data.
  auto le = [](Bytes& b, std::size_t at, std::uint32_t v, int n) {
    for (int i = 0; i < n; ++i) b[at + std::size_t(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  };
  Bytes bmp(54, 0);
  bmp[0] = 'B', bmp[1] = 'M', bmp[26] = 1, bmp[28] = 24;
  le(bmp, 2, 54, 4), le(bmp, 10, 54, 4), le(bmp, 14, 40, 4), le(bmp, 18, 16384, 4);
  le(bmp, 22, 16384, 4);
  put(t, "header_16384.bmp", bmp);
  Bytes tga(18, 0);
  tga[2] = 2, tga[16] = 24;
  le(tga, 12, 16384, 2), le(tga, 14, 16384, 2);
  put(t, "header_16384.tga", tga);
  tga[2] = 10;
  put(t, "header_16384_rle.tga", tga);
  const std::string pgm = "P5\n16384 16384\n255\n";
  put(t, "header_16384.pgm", Bytes(pgm.begin(), pgm.end()));
  Bytes jpg = read_all(g_root / t / "grey_9x6.jpg");
  for (std::size_t i = 0; i + 8 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = jpg[i + 7] = 0x40, jpg[i + 6] = jpg[i + 8] = 0;
      break;
    }
  put(t, "header_16384.jpg", jpg);
  Bytes gif = {'G',  'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0x80, 0, 0, 0,   0, 0, 0xFF, 0xFF,
               0xFF, ',', 0,   0,   0,   0,   0, 0, 0, 0, 0,    2, 2, 'D', 1, 0, ';'};
  le(gif, 6, 16384, 2), le(gif, 8, 16384, 2), le(gif, 24, 16384, 2), le(gif, 26, 16384, 2);
  put(t, "header_16384.gif", gif);
  put(t, "screen_16384_no_image.gif", Bytes(gif.begin(), gif.begin() + 19));
  // A PNG header of 20000 x 20000 RGBA pixels, over load_image's limit of 2^28.
  const Bytes ihdr = {0x89, 'P',  'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0,    0, 0,
                      13,   'I',  'H', 'D', 'R',  0,    0,    0x4E, 0x20, 0, 0,
                      0x4E, 0x20, 8,   6,   0,    0,    0,    0,    0,    0, 0};
  put(t, "ihdr_20000.png", ihdr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <dir>\n";
    return 2;
  }
  g_root = argv[1];
  try {
    idx_corpus();
    model_corpus();
    image_corpus();
#if CTNN_FUZZ_SAFETENSORS
    safetensors_corpus();
#endif
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
