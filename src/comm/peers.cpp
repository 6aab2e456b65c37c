// Where a rank's peers are: the address it listens on across hosts, and the one line it reports
// when one of them goes away.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "crossover/comm/launch.h"

namespace crossover {

std::string local_address_towards(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), "9", &hints, &found) != 0 || !found) return "";
  std::string local;
  // Connecting a UDP socket sends nothing: it only asks the routing table which source address
  // a packet to `host` would carry.
  const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (s >= 0 && ::connect(s, found->ai_addr, found->ai_addrlen) == 0) {
    sockaddr_in me{};
    socklen_t len = sizeof(me);
    char text[INET_ADDRSTRLEN] = {};
    if (::getsockname(s, reinterpret_cast<sockaddr*>(&me), &len) == 0 &&
        inet_ntop(AF_INET, &me.sin_addr, text, sizeof(text)))
      local = text;
  }
  if (s >= 0) ::close(s);
  freeaddrinfo(found);
  return local;
}

std::string describe_lost_peer(int rank, const char* collective, const std::string& transport_error,
                               const std::vector<std::string>& rank_addresses, int64_t timeout_s) {
  const std::string first = transport_error.substr(0, transport_error.find('\n'));
  std::string me = "rank " + std::to_string(rank);
  if (rank >= 0 && rank < static_cast<int>(rank_addresses.size()) && !rank_addresses[rank].empty())
    me += " (" + rank_addresses[rank] + ")";
  // Gloo names the other end of a broken connection as "[address]:port".
  static const std::regex bracketed(R"(\[([0-9A-Fa-f:.]+)\]:[0-9]+)");
  std::smatch m;
  std::string peer;
  if (std::regex_search(first, m, bracketed)) {
    const std::string addr = m[1];
    std::string ranks;
    for (int r = 0; r < static_cast<int>(rank_addresses.size()); ++r)
      if (r != rank && rank_addresses[r] == addr)
        ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    peer = ranks.empty() ? "the peer at " + addr
                         : (ranks.find(',') == std::string::npos ? "rank " : "ranks ") + ranks +
                               " at " + addr;
    peer += " went away";
  } else {
    peer = "no peer answered within " + std::to_string(timeout_s) +
           " s (distributed.timeout_s): a rank or its node is gone, stalled or cut off";
  }
  return me + ": collective " + collective + " failed: " + peer + " (" + first + ")";
}

}  // namespace crossover
