// tests/support/process.h — what this process holds, for the leak checks and benchmarks.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <fstream>

#include "daemon/heap.h"

namespace xfw::testing {

inline long rss_kib() {  // resident memory
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

inline long heap_bytes() { return long(xfw::heap_bytes()); }  // malloc's memory in use

inline int open_fds() {  // entries of /proc/self/fd (its own directory handle included)
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

}  // namespace xfw::testing
