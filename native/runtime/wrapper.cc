// twine-runc: Docker's `runtimes` entry for Twine. On `create` (and `run`) it
// appends Twine's OCI prestart hook to the bundle's config.json, after the
// hooks already there (Docker's libnetwork-setkey, which sets up the
// container's network), then execs the real runc with the same arguments.
// Every other command goes to runc untouched. If the hook cannot be added the
// start fails: a container that asked for the runtime never runs without it.

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common.h"

namespace {

using twine_rt::Conf;

constexpr size_t kMaxConfig = 16 * 1024 * 1024;
// runc's global options that take a value.
const char* const kGlobalWithValue[] = {"--root", "--log", "--log-format", "--criu", "--rootless"};

[[noreturn]] void Die(const std::string& msg) {
  fprintf(stderr, "twine-runc: %s\n", msg.c_str());
  _exit(1);
}

bool TakesValue(const char* arg) {
  for (const char* g : kGlobalWithValue) {
    if (strcmp(arg, g) == 0) return true;
  }
  return false;
}

// Index of the runc command (create, start, ...) in argv, or argc.
int CommandIndex(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] != '-') return i;
    if (TakesValue(argv[i])) i++;
  }
  return argc;
}

// The --bundle/-b value after the command, else the working directory.
std::string BundleOf(int from, int argc, char** argv) {
  for (int i = from; i < argc; i++) {
    const char* a = argv[i];
    if ((strcmp(a, "--bundle") == 0 || strcmp(a, "-b") == 0) && i + 1 < argc) return argv[i + 1];
    if (strncmp(a, "--bundle=", 9) == 0) return a + 9;
    if (strncmp(a, "-b=", 3) == 0) return a + 3;
  }
  char cwd[4096];
  return getcwd(cwd, sizeof cwd) ? cwd : ".";
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// Adds the hook to hooks.prestart in the config text; false (why set) when the text is not what runc reads.
bool AddHook(std::string* text, const std::string& hook, const std::string& hookPath, std::string* why) {
  using twine_rt::FindMember;
  using twine_rt::SkipValue;
  using twine_rt::SkipWs;
  const std::string& t = *text;
  size_t root = SkipWs(t, 0);
  size_t rootEnd = SkipValue(t, root);
  if (root >= t.size() || t[root] != '{' || rootEnd == std::string::npos) return *why = "not a JSON object", false;
  size_t hooks = FindMember(t, root, "hooks");
  if (hooks == std::string::npos) {
    // No hooks at all: add the member before the root's closing brace.
    size_t close = rootEnd - 1;
    bool empty = SkipWs(t, root + 1) == close;
    text->insert(close, std::string(empty ? "" : ",") + "\"hooks\":{\"prestart\":[" + hook + "]}");
    return true;
  }
  if (t[hooks] != '{') return *why = "hooks is not an object", false;
  size_t prestart = FindMember(t, hooks, "prestart");
  if (prestart == std::string::npos) {
    size_t inner = SkipWs(t, hooks + 1);
    bool empty = t[inner] == '}';
    text->insert(hooks + 1, "\"prestart\":[" + hook + "]" + (empty ? "" : ","));
    return true;
  }
  if (t[prestart] != '[') return *why = "hooks.prestart is not an array", false;
  size_t end = SkipValue(t, prestart);
  if (end == std::string::npos) return *why = "hooks.prestart is malformed", false;
  // Already there (the same bundle created twice): nothing to add.
  if (t.substr(prestart, end - prestart).find(twine_rt::Quote(hookPath)) != std::string::npos) return true;
  bool empty = SkipWs(t, prestart + 1) == end - 1;
  text->insert(end - 1, std::string(empty ? "" : ",") + hook);
  return true;
}

void PatchBundle(const std::string& bundle, const std::string& dir, const Conf& conf) {
  std::string path = bundle + "/config.json";
  std::string text;
  std::string why;
  if (!twine_rt::ReadFile(path, kMaxConfig, &text, &why)) Die("cannot add Twine's hook: " + why);
  std::string hookPath = dir + "/" + twine_rt::kHookName;
  // runc kills a hook that outlives its timeout; the hook gives up by itself a little earlier.
  long secs = (conf.timeout_ms + 999) / 1000 + 2;
  std::string hook = "{\"path\":" + twine_rt::Quote(hookPath) + ",\"args\":[\"twine-hook\"],\"timeout\":" + std::to_string(secs) + "}";
  if (!AddHook(&text, hook, hookPath, &why)) Die("cannot add Twine's hook to " + path + ": " + why);
  struct stat st;
  mode_t mode = stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
  std::string tmp = path + ".twine-tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) Die("cannot write " + tmp + ": " + strerror(errno));
  bool ok = WriteAll(fd, text);
  int e = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    e = errno;
  }
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) e = errno;
    unlink(tmp.c_str());
    Die("cannot write " + path + ": " + strerror(e));
  }
}

// The real runc: from the settings, else the first runc on PATH that is not this program.
std::string FindRunc(const Conf& conf, const std::string& dir) {
  if (!conf.runc.empty()) return conf.runc;
  const char* env = getenv("PATH");
  std::string path = env ? env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string d = path.substr(start, end - start);
    start = end + 1;
    if (d.empty() || d == dir) continue;
    std::string cand = d + "/runc";
    if (access(cand.c_str(), X_OK) == 0) return cand;
  }
  Die("no runc found on PATH (" + path + "); set runc= in " + dir + "/" + twine_rt::kConfName);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = twine_rt::SelfDir();
  if (dir.empty()) Die("cannot read /proc/self/exe");
  Conf conf;
  std::string why;
  if (!twine_rt::LoadConf(dir, &conf, &why)) Die(why);
  int cmd = CommandIndex(argc, argv);
  if (cmd < argc && (strcmp(argv[cmd], "create") == 0 || strcmp(argv[cmd], "run") == 0)) {
    PatchBundle(BundleOf(cmd + 1, argc, argv), dir, conf);
  }
  std::string runc = FindRunc(conf, dir);
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  execv(runc.c_str(), args.data());
  Die("cannot run " + runc + ": " + strerror(errno));
}
