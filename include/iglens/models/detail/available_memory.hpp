#pragma once
// How much memory this process may use for a model: the smaller of what the
// kernel says it could hand out without swapping (MemAvailable in
// /proc/meminfo, cached file pages included, since they can be dropped) and
// the memory limit of the process's cgroup (v2 memory.max, v1
// memory.limit_in_bytes), which a container sets below the machine's
// memory. IGLENS_AVAILABLE_MEMORY, where set, is taken instead: a user who
// wants to leave room for other work, and the tests, say so there.

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "iglens/error.hpp"

namespace iglens {

struct AvailableMemory {
  std::uint64_t bytes = 0;
  std::string source;  // where the number comes from, as an error names it
};

namespace detail {

// A whole number of bytes, optionally with a binary unit K, M, G or T ("512M", "24G").
inline std::optional<std::uint64_t> parse_byte_count(std::string_view text) {
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  if (i == text.size()) return value;
  if (i + 1 != text.size()) return std::nullopt;
  int shift = 0;
  switch (std::toupper(static_cast<unsigned char>(text[i]))) {
    case 'K':
      shift = 10;
      break;
    case 'M':
      shift = 20;
      break;
    case 'G':
      shift = 30;
      break;
    case 'T':
      shift = 40;
      break;
    default:
      return std::nullopt;
  }
  if (value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

// MemAvailable of /proc/meminfo's text, in bytes (the file gives kB).
inline std::optional<std::uint64_t> meminfo_available(const std::string& meminfo) {
  std::istringstream lines(meminfo);
  std::string line;
  while (std::getline(lines, line)) {
    constexpr std::string_view key = "MemAvailable:";
    if (line.compare(0, key.size(), key) != 0) continue;
    std::istringstream fields(line.substr(key.size()));
    std::uint64_t kilobytes = 0;
    std::string unit;
    if (!(fields >> kilobytes >> unit) || unit != "kB" || kilobytes > UINT64_MAX / 1024) return std::nullopt;
    return kilobytes * 1024;
  }
  return std::nullopt;
}

// A cgroup memory limit's text ("max", or a number of bytes; v1 writes a huge number for none).
inline std::optional<std::uint64_t> cgroup_limit(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  const auto bytes = parse_byte_count(text);
  // No limit: "max" (v2), or v1's page-rounded INT64_MAX.
  if (!bytes || *bytes >= (std::uint64_t{1} << 62)) return std::nullopt;
  return bytes;
}

// The smaller of MemAvailable and a cgroup limit, from their files' texts (empty: not there).
inline std::optional<AvailableMemory> available_memory_from(const std::string& meminfo,
                                                            const std::string& cgroup_limit_text) {
  std::optional<AvailableMemory> available;
  if (const auto bytes = meminfo_available(meminfo))
    available = AvailableMemory{*bytes, "MemAvailable in /proc/meminfo"};
  if (const auto limit = cgroup_limit(cgroup_limit_text); limit && (!available || *limit < available->bytes)) {
    available = AvailableMemory{*limit, "the cgroup's memory limit"};
  }
  return available;
}

inline std::string file_text(const std::string& path) {
  std::ifstream file(path);
  return file ? std::string(std::istreambuf_iterator<char>(file), {}) : std::string();
}

// The limit file of this process's cgroup: v2's memory.max at its path in /proc/self/cgroup ("0::/path"),
// else v1's memory controller.
inline std::string own_cgroup_limit_text() {
  std::istringstream lines(file_text("/proc/self/cgroup"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, 3, "0::") == 0) {
      const auto text = file_text("/sys/fs/cgroup" + line.substr(3) + "/memory.max");
      if (!text.empty()) return text;
    }
  }
  return file_text("/sys/fs/cgroup/memory/memory.limit_in_bytes");
}

}  // namespace detail

// What this process may use now; nullopt where the system does not say (not Linux).
inline std::optional<AvailableMemory> available_memory() {
  if (const char* given = std::getenv("IGLENS_AVAILABLE_MEMORY"); given != nullptr && *given != '\0') {
    const auto bytes = detail::parse_byte_count(given);
    require(bytes.has_value(),
            "IGLENS_AVAILABLE_MEMORY must be a whole number of bytes, optionally with K, M, G or T (got '{}')", given);
    return AvailableMemory{*bytes, "IGLENS_AVAILABLE_MEMORY"};
  }
  return detail::available_memory_from(detail::file_text("/proc/meminfo"), detail::own_cgroup_limit_text());
}

}  // namespace iglens
