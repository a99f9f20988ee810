#pragma once
// The processes of one `iglens corpus` run, on one machine or many, as
// PyTorch's launcher (torchrun), mpirun or Slurm's srun start them: which one
// this is, and the c10d::TCPStore from LibTorch that they share. The store
// holds the run's list of pending prompts (set by rank 0) and two counters:
// the next chunk to take, a work queue that balances prompts of any length,
// and the ranks finished, which rank 0 waits for before it writes the summary.

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "iglens/error.hpp"

namespace iglens::cli {

struct RankInfo {
  std::int64_t rank = 0, world = 1;
  std::string launcher = "none";  // torchrun, mpirun, srun or none
};

namespace detail {

inline std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? std::optional<std::string>(value) : std::nullopt;
}

inline std::int64_t environment_integer(const char* name, std::int64_t low, std::int64_t high) {
  const auto text = environment(name).value_or("");
  std::size_t used = 0;
  std::int64_t value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  iglens::require(used == text.size() && !text.empty() && value >= low && value <= high,
                  "environment variable {}='{}' must be an integer in [{}, {}]", name, text, low, high);
  return value;
}

}  // namespace detail

// torchrun sets RANK and WORLD_SIZE, mpirun OMPI_COMM_WORLD_RANK and _SIZE,
// srun SLURM_PROCID and SLURM_NTASKS; without them the process is alone.
inline RankInfo rank_from_environment() {
  constexpr std::int64_t most = 1 << 20;
  const std::pair<const char*, const char*> variables[] = {
      {"RANK", "WORLD_SIZE"}, {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}, {"SLURM_PROCID", "SLURM_NTASKS"}};
  const char* launchers[] = {"torchrun", "mpirun", "srun"};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& [rank_name, world_name] = variables[i];
    if (!detail::environment(rank_name) && !detail::environment(world_name)) continue;
    RankInfo info;
    info.world = detail::environment_integer(world_name, 1, most);
    info.rank = detail::environment_integer(rank_name, 0, info.world - 1);
    info.launcher = launchers[i];
    return info;
  }
  return {};
}

// The store at MASTER_ADDR:MASTER_PORT. Under torchrun's agent
// (TORCHELASTIC_USE_AGENT_STORE=True) the agent hosts it and every rank is a
// client under the prefix torch.distributed uses for this attempt; otherwise
// rank 0 hosts it.
inline c10::intrusive_ptr<c10d::Store> connect_store(const RankInfo& ranks, std::chrono::milliseconds timeout) {
  const auto address = detail::environment("MASTER_ADDR");
  iglens::require(address.has_value(), "{} ranks need MASTER_ADDR and MASTER_PORT (the store's address) to share work",
                  ranks.world);
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(detail::environment_integer("MASTER_PORT", 1, 65535));
  options.timeout = timeout;
  options.waitWorkers = false;
  const bool agent_store = detail::environment("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  options.isServer = !agent_store && ranks.rank == 0;
  options.multiTenant = true;
  auto store = c10::make_intrusive<c10d::TCPStore>(*address, options);
  std::string prefix = "iglens/corpus/";
  if (agent_store) {
    prefix = "/worker/attempt_" + detail::environment("TORCHELASTIC_RESTART_COUNT").value_or("0") + "/" + prefix;
  }
  return c10::make_intrusive<c10d::PrefixStore>(prefix, store);
}

inline std::vector<std::uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }
inline std::string text_of(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

}  // namespace iglens::cli
