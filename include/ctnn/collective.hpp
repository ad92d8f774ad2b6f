// ctnn/collective.hpp — what data-parallel training needs from a group of processes.
//
// fit(), Trainer and evaluate() take a Collective (FitOptions::collective) to train one network
// on R processes: each process computes its share of every batch and the gradients are summed
// across the processes, so that all of them apply the same update (see docs/distributed.md).
// The core library depends on no communication library: ctnn/distributed/mpi.hpp implements this
// interface on MPI; a test can implement it on threads.
//
// check_agreement() makes sure the processes of a group compute the same thing: fit(),
// Trainer::distribute() and evaluate() call it before their first collective operation.
#pragma once

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "attributes.hpp"
#include "error.hpp"
#include "hash.hpp"

namespace ctnn {

/// A group of `size()` processes, this one being number `rank()` (0 .. size() - 1), and the
/// collective operations among them. Every process of the group must make the same calls in the
/// same order with the same counts (as MPI requires). Implementations throw ctnn::Error when an
/// operation fails, for instance when a process of the group has died.
class Collective {
 public:
  virtual ~Collective() = default;

  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;

  /// Copies process 0's `n` floats at `data` into `data` on every process.
  virtual void broadcast(float* data, std::size_t n) = 0;

  /// Replaces `data[0..n)` on every process with the element-wise sum over the processes (in an
  /// order fixed by the implementation, the same on every process, so every process gets the same
  /// bits).
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  virtual void allreduce_sum(double* data, std::size_t n) = 0;

  /// Starts allreduce_sum(data, n) and returns at once; wait() completes it. `data` must not be
  /// touched in between. Returns a handle for wait(). The default runs it at once.
  virtual std::size_t start_allreduce_sum(float* data, std::size_t n) {
    allreduce_sum(data, n);
    return 0;
  }
  /// Waits for the operation started with `handle` (each handle once).
  virtual void wait(std::size_t /*handle*/) {}
  /// Lets started operations advance, for an implementation that progresses them only inside
  /// its own calls (as MPI's non-blocking collectives do); the trainer calls it between layers
  /// of backward. ctnn::mpi::Communicator runs them on a thread of its own and needs none.
  virtual void poll() {}
};

/// One setting that every process of a group must have alike (check_agreement()): its name, a
/// 64-bit key that two processes share exactly when their values are alike (the value itself,
/// a number's bits, a hash), and the value as text for messages.
struct Setting {
  std::string name;
  std::uint64_t key = 0;
  std::string text;

  /// A count or an integer: the key is the value.
  static Setting integer(std::string name, std::uint64_t value) {
    return {std::move(name), value, std::to_string(value)};
  }
  /// A real number: the key is its bits (so 0.1f and 0.1 differ, as they compute differently);
  /// the text is the shortest that reads back as the value (as a float when it is one).
  static Setting real(std::string name, double value) {
    char buffer[40];
    const auto f = static_cast<float>(value);
    const auto end = double(f) == value ? std::to_chars(buffer, buffer + 40, f).ptr
                                        : std::to_chars(buffer, buffer + 40, value).ptr;
    return {std::move(name), std::bit_cast<std::uint64_t>(value), std::string(buffer, end)};
  }
  static Setting flag(std::string name, bool value) {
    return {std::move(name), value ? 1u : 0u, value ? "yes" : "no"};
  }
  /// A short text (a type's name): the key is its hash.
  static Setting label(std::string name, std::string text) {
    const std::uint64_t key = detail::fnv1a64(text);
    return {std::move(name), key, std::move(text)};
  }
  /// Something too large to send (the data, a network's signature), by its hash; `text` says
  /// what the hash stands for.
  static Setting digest(std::string name, std::uint64_t hash, std::string text) {
    return {std::move(name), hash, std::move(text)};
  }
};

/// At most this many settings per check_agreement() call.
inline constexpr std::size_t max_agreed_settings = 128;

/// Checks that every process of `c` holds the same `settings` (the same names and keys, in the
/// same order) as process 0. Every process of the group must call it at the same point, as any
/// collective operation; it makes the same collective calls with the same counts whatever the
/// settings (a sum of a fixed-size record carrying process 0's names and keys, then one of a
/// flag per process, then, only when something differs, one of the two values' texts), so a
/// disagreement cannot itself mismatch the processes' operations. With one process it does
/// nothing.
///
/// Throws SettingMismatch on every process when some process's i-th setting differs from
/// process 0's, naming the first such setting of the lowest-numbered such process and both
/// values (texts cut at 96 bytes): "WHERE: the processes disagree on batch_size: 32 on process
/// 0, 64 on process 1 ...". Throws InvalidArgument, before any communication, for more than
/// max_agreed_settings settings; what the collective throws.
CTNN_COLD inline void check_agreement(Collective& c, std::span<const Setting> settings,
                                      const std::string& where) {
  constexpr std::size_t slots = max_agreed_settings, text_bytes = 96;
  if (settings.size() > slots)
    throw InvalidArgument(where + ": " + std::to_string(settings.size()) +
                          " settings to check across the processes, at most " +
                          std::to_string(slots));
  if (c.size() < 2) return;
  // Each slot: the name's hash and the key, as 32-bit halves, which doubles hold exactly (so a
  // sum of process 0's values and the others' zeros is process 0's values).
  std::vector<double> mine(4 * slots, 0.0);
  for (std::size_t i = 0; i < settings.size(); ++i) {
    const std::uint64_t name = detail::fnv1a64(settings[i].name), key = settings[i].key;
    mine[4 * i] = double(name >> 32);
    mine[4 * i + 1] = double(name & 0xffffffffu);
    mine[4 * i + 2] = double(key >> 32);
    mine[4 * i + 3] = double(key & 0xffffffffu);
  }
  std::vector<double> first = c.rank() == 0 ? mine : std::vector<double>(4 * slots, 0.0);
  c.allreduce_sum(first.data(), first.size());
  std::size_t differs = 0;  // 1 + the first slot that differs from process 0's, or 0
  for (std::size_t i = 0; i < slots && differs == 0; ++i)
    if (!std::equal(mine.begin() + std::ptrdiff_t(4 * i), mine.begin() + std::ptrdiff_t(4 * i + 4),
                    first.begin() + std::ptrdiff_t(4 * i)))
      differs = i + 1;
  std::vector<double> flags(c.size(), 0.0);
  flags[c.rank()] = double(differs);
  c.allreduce_sum(flags.data(), flags.size());
  const auto other = std::find_if(flags.begin(), flags.end(), [](double f) { return f != 0.0; });
  if (other == flags.end()) return;
  const auto rank = static_cast<std::size_t>(other - flags.begin());
  const auto i = static_cast<std::size_t>(*other) - 1;

  // Process 0's and process `rank`'s name and value of setting i, a byte per double.
  std::vector<double> texts(4 * text_bytes, 0.0);
  const auto put = [&](std::size_t part, const std::string& s) {
    for (std::size_t j = 0; j < std::min(s.size(), text_bytes); ++j)
      texts[part * text_bytes + j] = static_cast<unsigned char>(s[j]);
  };
  const bool have = i < settings.size();
  const std::string name = have ? settings[i].name : "(no setting)";
  const std::string value = have ? settings[i].text : "(none)";
  if (c.rank() == 0) {
    put(0, name);
    put(1, value);
  }
  if (c.rank() == rank) {
    put(2, name);
    put(3, value);
  }
  c.allreduce_sum(texts.data(), texts.size());
  const auto get = [&](std::size_t part) {
    std::string s;
    for (std::size_t j = 0; j < text_bytes && texts[part * text_bytes + j] != 0.0; ++j)
      s += static_cast<char>(static_cast<unsigned char>(texts[part * text_bytes + j]));
    return s;
  };
  const std::string name0 = get(0), value0 = get(1), name_r = get(2), value_r = get(3);
  const std::string r = std::to_string(rank);
  if (name0 == name_r)
    throw SettingMismatch(where + ": the processes disagree on " + name0 + ": " + value0 +
                              " on process 0, " + value_r + " on process " + r +
                              " (every process must be started with the same data and settings)",
                          name0, rank, value0, value_r);
  throw SettingMismatch(where + ": the processes check different settings: setting " +
                            std::to_string(i + 1) + " is " + name0 + " = " + value0 +
                            " on process 0, " + name_r + " = " + value_r + " on process " + r +
                            " (are they running the same program and optimizer?)",
                        name0, rank, value0, value_r);
}

}  // namespace ctnn
