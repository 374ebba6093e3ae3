#include "hostfile.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "dsm/common/parse.h"
#include "dsm/device/protocol.h"

namespace dsm::launcher {
namespace {

constexpr size_t kMaxHostfileBytes = 1 << 20;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// A host as ssh takes it: printable ASCII, no spaces, no shell or ssh option
// syntax at the start.
bool ValidHostName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name[0] == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_' || c == '@' || c == ':' || c == '%' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

bool ValidListen(std::string_view addr) {
  if (addr.empty() || addr.size() > 100) return false;
  for (char c : addr) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_' || c == ':' || c == '[' || c == ']' || c == '%';
    if (!ok) return false;
  }
  return true;
}

std::optional<uint32_t> ParseSlots(std::string_view v) {
  auto n = ParseUint(v);
  if (!n || *n < 1 || *n > device::kMaxNodes) return std::nullopt;
  return static_cast<uint32_t>(*n);
}

// Adds a host, or its slots to the same host listed before.
Status Merge(std::vector<HostEntry>* hosts, HostEntry entry) {
  for (HostEntry& h : *hosts) {
    if (h.name != entry.name) continue;
    if (!entry.listen.empty() && !h.listen.empty() && entry.listen != h.listen) {
      return Status(EINVAL, "host " + Quote(h.name) + " listed again with another listen= address");
    }
    if (h.listen.empty()) h.listen = entry.listen;
    h.slots += entry.slots;
    if (h.slots > device::kMaxNodes) {
      return Status(EINVAL, "host " + Quote(h.name) + " has more than " + std::to_string(device::kMaxNodes) + " slots");
    }
    return Status::Ok();
  }
  hosts->push_back(std::move(entry));
  return Status::Ok();
}

Result<HostEntry> ParseLine(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  HostEntry e;
  if (!ValidHostName(words[0])) return Status(EINVAL, "invalid host name " + Quote(words[0]));
  e.name = std::string(words[0]);
  bool have_slots = false, have_max = false, have_listen = false;
  uint32_t max_slots = 0;
  for (size_t w = 1; w < words.size(); ++w) {
    std::string_view word = words[w];
    size_t eq = word.find('=');
    std::string_view key = word.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : word.substr(eq + 1);
    if (eq == std::string_view::npos) return Status(EINVAL, "expected KEY=VALUE, not " + Quote(word));
    if (key == "slots") {
      auto n = ParseSlots(value);
      if (!n) return Status(EINVAL, "slots must be 1 to " + std::to_string(device::kMaxNodes) + ", not " + Quote(value));
      if (have_slots) return Status(EINVAL, "slots given twice");
      e.slots = *n;
      have_slots = true;
    } else if (key == "max_slots" || key == "max-slots") {
      auto n = ParseSlots(value);
      if (!n) return Status(EINVAL, "max_slots must be 1 to " + std::to_string(device::kMaxNodes) + ", not " + Quote(value));
      if (have_max) return Status(EINVAL, "max_slots given twice");
      max_slots = *n;
      have_max = true;
    } else if (key == "listen") {
      if (!ValidListen(value)) return Status(EINVAL, "invalid listen address " + Quote(value));
      if (have_listen) return Status(EINVAL, "listen given twice");
      e.listen = std::string(value);
      have_listen = true;
    } else {
      return Status(EINVAL, "unknown keyword " + Quote(key) + " (known: slots, max_slots, listen)");
    }
  }
  if (have_max && max_slots < e.slots) return Status(EINVAL, "max_slots is below slots");
  return e;
}

}  // namespace

Result<std::vector<HostEntry>> ParseHostfile(std::string_view text) {
  std::vector<HostEntry> hosts;
  size_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    bool blank = true;
    for (char c : line) blank = blank && IsSpace(c);
    if (blank) continue;
    auto where = [&](const std::string& what) { return Status(EINVAL, "line " + std::to_string(number) + ": " + what); };
    auto entry = ParseLine(line);
    if (!entry.ok()) return where(entry.status().message());
    if (Status s = Merge(&hosts, std::move(entry).value()); !s.ok()) return where(s.message());
  }
  if (hosts.empty()) return Status(EINVAL, "no host in it");
  return hosts;
}

Result<std::vector<HostEntry>> ReadHostfile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno("cannot read the hostfile " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxHostfileBytes) return Status(EINVAL, "hostfile " + path + ": larger than 1 MiB");
  auto hosts = ParseHostfile(text.str());
  if (!hosts.ok()) return Status(EINVAL, "hostfile " + path + ": " + hosts.status().message());
  return hosts;
}

Result<std::vector<HostEntry>> ParseHostList(std::string_view list) {
  std::vector<HostEntry> hosts;
  size_t pos = 0;
  for (;;) {
    size_t comma = list.find(',', pos);
    std::string_view item = list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    HostEntry e;
    // "name:K"; an IPv6 address goes in brackets ("[::1]:2").
    size_t colon = item.rfind(':');
    if (colon != std::string_view::npos && item.find(']', colon) == std::string_view::npos) {
      auto n = ParseSlots(item.substr(colon + 1));
      if (!n) {
        return Status(EINVAL, "in " + Quote(item) + ": slots must be 1 to " + std::to_string(device::kMaxNodes));
      }
      e.slots = *n;
      item = item.substr(0, colon);
    }
    if (!ValidHostName(item)) return Status(EINVAL, "invalid host name " + Quote(item));
    e.name = std::string(item);
    if (Status s = Merge(&hosts, std::move(e)); !s.ok()) return s;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return hosts;
}

Result<HostPlan> PlaceOnHosts(const std::vector<HostEntry>& hosts, uint32_t nodes, Placement placement,
                              uint32_t max_hosts) {
  uint64_t total = 0;
  for (const HostEntry& h : hosts) total += h.slots;
  if (nodes > total) {
    return Status(EINVAL, std::to_string(nodes) + " nodes do not fit in the " + std::to_string(total) +
                              " slots of the hosts given (dsm-run never runs more nodes on a host than its "
                              "slots; add slots=K to the hostfile)");
  }
  std::vector<uint32_t> used(hosts.size(), 0);
  std::vector<uint32_t> original(nodes);  // node k's index in `hosts`
  if (placement == Placement::kBlock) {
    size_t h = 0;
    for (uint32_t k = 0; k < nodes; ++k) {
      while (used[h] == hosts[h].slots) ++h;
      original[k] = static_cast<uint32_t>(h);
      ++used[h];
    }
  } else {
    size_t h = 0;
    for (uint32_t k = 0; k < nodes; ++k) {
      while (used[h] == hosts[h].slots) h = (h + 1) % hosts.size();
      original[k] = static_cast<uint32_t>(h);
      ++used[h];
      h = (h + 1) % hosts.size();
    }
  }
  HostPlan plan;
  std::vector<uint32_t> renumbered(hosts.size(), 0);
  for (size_t h = 0; h < hosts.size(); ++h) {
    if (used[h] == 0) continue;
    renumbered[h] = static_cast<uint32_t>(plan.hosts.size());
    plan.hosts.push_back(hosts[h]);
  }
  if (plan.hosts.size() > max_hosts) {
    return Status(EINVAL, "the nodes would run on " + std::to_string(plan.hosts.size()) + " hosts; at most " +
                              std::to_string(max_hosts) + " are supported");
  }
  plan.host_of_node.resize(nodes);
  for (uint32_t k = 0; k < nodes; ++k) plan.host_of_node[k] = renumbered[original[k]];
  return plan;
}

}  // namespace dsm::launcher
