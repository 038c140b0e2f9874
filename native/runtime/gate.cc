#include "gate.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

namespace twine_rt {

namespace {

constexpr size_t kMaxAnswer = 64 * 1024;
constexpr long kRetryMs = 50;

void SleepMs(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Waits until fd is ready for events or the deadline passes.
bool WaitFor(int fd, short events, long deadline) {
  for (;;) {
    long left = deadline - NowMs();
    if (left <= 0) return false;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

enum class Try { kAnswered, kRetry, kTimedOut };

// One request; kRetry when the daemon is not there or went away before it answered.
Try Ask(const Conf& conf, const std::string& request, long deadline, int* status, std::string* body, std::string* why) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return *why = std::string("socket: ") + strerror(errno), Try::kRetry;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, conf.socket.c_str(), conf.socket.size() + 1);  // length checked by LoadConf
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS && errno != EAGAIN) {
    *why = "cannot reach the daemon at " + conf.socket + ": " + strerror(errno);
    close(fd);
    return Try::kRetry;
  }
  size_t off = 0;
  while (off < request.size()) {
    if (!WaitFor(fd, POLLOUT, deadline)) {
      close(fd);
      return Try::kTimedOut;
    }
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      *why = "cannot reach the daemon at " + conf.socket + ": " + strerror(errno);
      close(fd);
      return Try::kRetry;
    }
    off += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[4096];
  for (;;) {
    if (!WaitFor(fd, POLLIN, deadline)) {
      close(fd);
      return Try::kTimedOut;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    if (n == 0) break;
    if (answer.size() + static_cast<size_t>(n) > kMaxAnswer) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t head = answer.find("\r\n\r\n");
  if (answer.compare(0, 9, "HTTP/1.1 ") != 0 || answer.size() < 12 || head == std::string::npos) {
    *why = "the daemon went away before it answered";
    return Try::kRetry;
  }
  *status = atoi(answer.c_str() + 9);
  *body = answer.substr(head + 4);
  return Try::kAnswered;
}

}  // namespace

bool ParseState(const std::string& text, State* st, std::string* why) {
  size_t root = SkipWs(text, 0);
  size_t id = FindMember(text, root, "id");
  if (id == std::string::npos || !ParseString(text, id, &st->id) || st->id.empty() || st->id.size() > 128) {
    return *why = "no container id in runc's state", false;
  }
  for (char c : st->id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.')) {
      return *why = "unexpected container id in runc's state", false;
    }
  }
  size_t pid = FindMember(text, root, "pid");
  if (pid == std::string::npos) return *why = "no pid in runc's state", false;
  char* end = nullptr;
  errno = 0;
  st->pid = strtol(text.c_str() + pid, &end, 10);
  if (errno != 0 || end == text.c_str() + pid || st->pid <= 0 || st->pid > 4194304) return *why = "no valid pid in runc's state", false;
  return true;
}

Labels TwineLabels(const Conf& conf, const std::string& id) {
  if (conf.docker_root.empty() || id.size() != 64 || id.find_first_not_of("0123456789abcdef") != std::string::npos) return Labels::kUnknown;
  std::string text;
  std::string why;
  if (!ReadFile(conf.docker_root + "/containers/" + id + "/config.v2.json", 64 * 1024 * 1024, &text, &why)) return Labels::kUnknown;
  size_t config = FindMember(text, SkipWs(text, 0), "Config");
  if (config == std::string::npos || text[config] != '{') return Labels::kUnknown;
  size_t labels = FindMember(text, config, "Labels");
  if (labels == std::string::npos) return Labels::kUnknown;
  if (text.compare(labels, 4, "null") == 0) return Labels::kNoTwine;
  if (text[labels] != '{') return Labels::kUnknown;
  size_t pos = SkipWs(text, labels + 1);
  if (pos < text.size() && text[pos] == '}') return Labels::kNoTwine;
  for (;;) {
    std::string key;
    if (!ParseString(text, pos, &key)) return Labels::kUnknown;
    if (key.compare(0, 6, "twine.") == 0) return Labels::kTwine;
    pos = SkipWs(text, SkipValue(text, pos));
    if (pos >= text.size() || text[pos] != ':') return Labels::kUnknown;
    pos = SkipWs(text, SkipValue(text, pos + 1));
    if (pos >= text.size()) return Labels::kUnknown;
    if (text[pos] == '}') return Labels::kNoTwine;
    if (text[pos] != ',') return Labels::kUnknown;
    pos = SkipWs(text, pos + 1);
  }
}

bool MayStart(const Conf& conf, const std::string& id, long pid) {
  long start = NowMs();
  long deadline = start + conf.timeout_ms;
  int status = 0;
  std::string body;
  std::string why;
  Try r = Try::kRetry;
  while (r == Try::kRetry) {
    long left = deadline - NowMs();
    if (left <= 0) {
      r = Try::kTimedOut;
      break;
    }
    std::string payload = "{\"id\":" + Quote(id) + ",\"pid\":" + std::to_string(pid) +
                          ",\"timeoutMs\":" + std::to_string(left) + ",\"mode\":\"" + (conf.open ? "open" : "closed") + "\"}";
    std::string request = "POST /runtime/start HTTP/1.1\r\nHost: twine\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(payload.size()) + "\r\nConnection: close\r\n\r\n" + payload;
    r = Ask(conf, request, deadline, &status, &body, &why);
    if (r == Try::kRetry) SleepMs(kRetryMs < deadline - NowMs() ? kRetryMs : 1);
  }
  if (r == Try::kAnswered && status == 200) return true;
  std::string reason;
  bool daemonLogged = false;
  if (r == Try::kAnswered) {
    size_t root = SkipWs(body, 0);
    size_t err = FindMember(body, root, "error");
    if (err == std::string::npos || !ParseString(body, err, &reason)) reason = "HTTP " + std::to_string(status);
    daemonLogged = true;
  } else {
    reason = "no answer from the daemon within " + std::to_string(conf.timeout_ms) + " ms" + (why.empty() ? "" : " (" + why + ")");
  }
  std::string shortId = id.substr(0, 12);
  if (conf.open) {
    // The daemon logged its own failures; when it could not be asked, syslog is the log there is.
    if (!daemonLogged) {
      openlog("twine-runc", LOG_PID, LOG_DAEMON);
      syslog(LOG_WARNING, "container %s starts without Twine's network set-up (open mode): %s", shortId.c_str(), reason.c_str());
      closelog();
    }
    fprintf(stderr, "twine: warning: container %s starts without Twine's network set-up (open mode): %s\n", shortId.c_str(), reason.c_str());
    return true;
  }
  fprintf(stderr, "twine: container %s not started (fail-closed runtime): %s\n", shortId.c_str(), reason.c_str());
  return false;
}

}  // namespace twine_rt
