// tests/qubesdb/record.cc — records a conversation between qubesdb::Session and a real QubesDB
// daemon, for the replay tests (qubesdb_test.cc):
//   qubesdb_record SOCKET SECONDS OUT     writes OUT.tx (what the Session sent) and OUT.rx
// (what the daemon answered), as raw bytes. tests/qubesdb/record.sh drives dom0's side.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "qubesdb/session.h"

int main(int argc, char** argv) {
  if (argc != 4) return std::fprintf(stderr, "usage: qubesdb_record SOCKET SECONDS OUT\n"), 2;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return std::perror("connect"), 1;
  std::ofstream tx(std::string(argv[3]) + ".tx", std::ios::binary), rx(std::string(argv[3]) + ".rx", std::ios::binary);
  xfw::qubesdb::Session s;
  auto send = [&](const std::vector<std::byte>& b) {
    tx.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    if (!b.empty() && ::write(fd, b.data(), b.size()) != ssize_t(b.size())) std::perror("write");
  };
  send(s.start());
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(std::stoi(argv[2]));
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    std::byte buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    rx.write(reinterpret_cast<const char*>(buf), n);
    send(s.receive(std::span(buf, std::size_t(n))));
    if (!s.error().empty()) return std::fprintf(stderr, "protocol error: %s\n", s.error().c_str()), 1;
  }
  std::printf("recorded: %lld bytes sent, %lld received, %llu watch events\n", (long long)tx.tellp(),
              (long long)rx.tellp(), (unsigned long long)s.events());
  return 0;
}
