// What the runtime wrapper (twine-runc) is built on: its settings file, a
// bounded file reader and just enough JSON to find a member of an object and
// to write a string. It is a small static program that runs on the Docker
// host, outside Node and outside Twine's container.
#pragma once

#include <stddef.h>

#include <string>

namespace twine_rt {

// The settings file `twine runtime install` writes next to the executables.
constexpr const char* kConfName = "twine-runtime.conf";

struct Conf {
  // The daemon's unix socket, as the host sees it.
  std::string socket = "/run/twine/twine.sock";
  // How long `runc start` waits for the daemon (connecting included).
  long timeout_ms = 10000;
  // Open mode: a start goes on (with a warning) when Twine cannot apply.
  bool open = false;
  // The real runc; empty: the first `runc` on PATH that is not the wrapper.
  std::string runc;
  // dockerd's data root: the wrapper reads a container's labels from its
  // config.v2.json there (empty: it always asks the daemon).
  std::string docker_root = "/var/lib/docker";
};

// The directory of the running executable (from /proc/self/exe); empty on failure.
std::string SelfDir();

// Reads <dir>/twine-runtime.conf. A missing file leaves the defaults; a
// malformed line is an error (why says which).
bool LoadConf(const std::string& dir, Conf* conf, std::string* why);

// Reads at most max bytes of a file; false (why set) on error or when it is larger.
bool ReadFile(const std::string& path, size_t max, std::string* out, std::string* why);
bool ReadFd(int fd, size_t max, std::string* out, std::string* why);

// JSON, for trusted-shape documents whose lengths are checked here:
// positions are byte offsets into text; npos means malformed or absent.
size_t SkipWs(const std::string& text, size_t pos);
// The end (one past) of the value starting at pos.
size_t SkipValue(const std::string& text, size_t pos, int depth = 0);
// In the object starting at obj ('{'), the start of the value of member key.
size_t FindMember(const std::string& text, size_t obj, const std::string& key);
// Decodes the string starting at pos ('"'); false when it is not a plain string.
bool ParseString(const std::string& text, size_t pos, std::string* out);
// "…" with JSON escapes.
std::string Quote(const std::string& s);

long NowMs();

}  // namespace twine_rt
