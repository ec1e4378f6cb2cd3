// Fuzz target: xfwctl's file parsers (rules files, apply files, QubesDB dumps) on any bytes.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "ctl/files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/fuzz_ctl_files." + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  using namespace xfw::ctl;
  try { (void)read_rule_file(path); } catch (const FileError&) {}
  try { (void)read_apply_file(path); } catch (const FileError&) {}
  try { (void)read_qubesdb_dump(path); } catch (const FileError&) {}
  try { (void)split_destination(std::string(reinterpret_cast<const char*>(data), size)); } catch (const FileError&) {}
  return 0;
}
