// twine-runc: Docker's `runtimes` entry for Twine. It holds `runc start` of a
// container with twine.* labels until the Twine daemon has applied it, then
// execs the real runc with the same arguments. Every other command goes to runc
// untouched. `start` is the one moment both engine generations agree on: Docker
// 20.10 wires the container's interfaces in an OCI prestart hook during
// `create`, Docker 28 after the task is created; both before `start`, and the
// container's process runs only once `start` returns. If Twine cannot apply,
// the start fails (or, in open mode, goes on with a warning): a container that
// asked for the runtime never runs without Twine's set-up.

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common.h"
#include "gate.h"

namespace {

using twine_rt::Conf;

constexpr size_t kMaxState = 1024 * 1024;
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

// The container id of `runc start <id>`: the one argument after the command.
std::string StartId(int cmd, int argc, char** argv) {
  if (cmd + 2 != argc || argv[cmd + 1][0] == '-') Die("cannot tell which container `runc start` starts; refusing (fail-closed runtime)");
  return argv[cmd + 1];
}

// Runs `runc <global options> <args…>` (the global options are argv's before the command) and
// waits for it; its stdout goes to *out when out is given (at most kMaxState bytes), else to ours.
// True when it exited 0.
bool RunRunc(const std::string& runc, int cmd, char** argv, const std::vector<std::string>& extra, std::string* out) {
  int fds[2] = {-1, -1};
  if (out && pipe2(fds, O_CLOEXEC) != 0) Die(std::string("pipe: ") + strerror(errno));
  pid_t child = fork();
  if (child < 0) Die(std::string("fork: ") + strerror(errno));
  if (child == 0) {
    if (out) dup2(fds[1], 1);
    std::vector<char*> args(argv, argv + cmd);
    args[0] = const_cast<char*>(runc.c_str());
    for (const std::string& a : extra) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(runc.c_str(), args.data());
    _exit(127);
  }
  bool read = true;
  if (out) {
    close(fds[1]);
    std::string why;
    read = twine_rt::ReadFd(fds[0], kMaxState, out, &why);
    close(fds[0]);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return read && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The pid of the container's init process, waiting for `start`, from `runc state <id>`.
long InitPid(const std::string& runc, int cmd, char** argv, const std::string& id) {
  std::string text;
  std::string why;
  if (!RunRunc(runc, cmd, argv, {"state", id}, &text)) Die("`runc state " + id + "` failed");
  twine_rt::State st;
  if (!twine_rt::ParseState(text, &st, &why)) Die(why);
  if (st.id != id) Die("`runc state " + id + "` answered for another container");
  return st.pid;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = twine_rt::SelfDir();
  if (dir.empty()) Die("cannot read /proc/self/exe");
  Conf conf;
  std::string why;
  if (!twine_rt::LoadConf(dir, &conf, &why)) Die(why);
  std::string runc = FindRunc(conf, dir);
  int cmd = CommandIndex(argc, argv);
  if (cmd < argc && strcmp(argv[cmd], "start") == 0) {
    std::string id = StartId(cmd, argc, argv);
    if (twine_rt::TwineLabels(conf, id) != twine_rt::Labels::kNoTwine && !twine_rt::MayStart(conf, id, InitPid(runc, cmd, argv, id))) {
      // Refused: the created container goes too, as when a create fails. Docker 20.10's containerd
      // keeps it otherwise, and the next `docker start` fails with "id already in use".
      RunRunc(runc, cmd, argv, {"delete", "--force", id}, nullptr);
      _exit(1);
    }
  }
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  execv(runc.c_str(), args.data());
  Die("cannot run " + runc + ": " + strerror(errno));
}
