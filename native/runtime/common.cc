#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace twine_rt {

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxConf = 64 * 1024;

std::string Trim(const std::string& s) {
  size_t a = 0;
  size_t b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) a++;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) b--;
  return s.substr(a, b - a);
}

size_t SkipString(const std::string& text, size_t pos) {
  if (pos >= text.size() || text[pos] != '"') return std::string::npos;
  for (size_t i = pos + 1; i < text.size(); i++) {
    if (text[i] == '\\') {
      i++;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return std::string::npos;
}

}  // namespace

long NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string SelfDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash == 0 ? 1 : slash);
}

bool ReadFd(int fd, size_t max, std::string* out, std::string* why) {
  out->clear();
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      *why = strerror(errno);
      return false;
    }
    if (n == 0) return true;
    if (out->size() + static_cast<size_t>(n) > max) {
      *why = "larger than " + std::to_string(max) + " bytes";
      return false;
    }
    out->append(buf, static_cast<size_t>(n));
  }
}

bool ReadFile(const std::string& path, size_t max, std::string* out, std::string* why) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = path + ": " + strerror(errno);
    return false;
  }
  bool ok = ReadFd(fd, max, out, why);
  if (!ok) *why = path + ": " + *why;
  close(fd);
  return ok;
}

bool LoadConf(const std::string& dir, Conf* conf, std::string* why) {
  std::string path = dir + "/" + kConfName;
  std::string text;
  if (!ReadFile(path, kMaxConf, &text, why)) {
    if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return true;
    return false;
  }
  size_t start = 0;
  int line = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string l = Trim(text.substr(start, end - start));
    line++;
    start = end + 1;
    if (l.empty() || l[0] == '#') continue;
    size_t eq = l.find('=');
    std::string bad = path + ":" + std::to_string(line) + ": ";
    if (eq == std::string::npos) return *why = bad + "expected key=value", false;
    std::string key = Trim(l.substr(0, eq));
    std::string value = Trim(l.substr(eq + 1));
    if (key == "socket") {
      if (value.empty() || value[0] != '/' || value.size() >= 108) return *why = bad + "socket must be an absolute path under 108 bytes", false;
      conf->socket = value;
    } else if (key == "timeout_ms") {
      char* endp = nullptr;
      errno = 0;
      long v = strtol(value.c_str(), &endp, 10);
      if (errno != 0 || endp == value.c_str() || *endp != '\0' || v < 100 || v > 600000) {
        return *why = bad + "timeout_ms must be 100 to 600000", false;
      }
      conf->timeout_ms = v;
    } else if (key == "mode") {
      if (value != "closed" && value != "open") return *why = bad + "mode must be closed or open", false;
      conf->open = value == "open";
    } else if (key == "docker_root") {
      if (!value.empty() && value[0] != '/') return *why = bad + "docker_root must be an absolute path", false;
      conf->docker_root = value;
    } else if (key == "runc") {
      if (!value.empty() && value[0] != '/') return *why = bad + "runc must be an absolute path", false;
      conf->runc = value;
    } else {
      return *why = bad + "unknown key " + key, false;
    }
  }
  return true;
}

size_t SkipWs(const std::string& text, size_t pos) {
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) pos++;
  return pos;
}

size_t SkipValue(const std::string& text, size_t pos, int depth) {
  if (depth > kMaxDepth) return std::string::npos;
  pos = SkipWs(text, pos);
  if (pos >= text.size()) return std::string::npos;
  char c = text[pos];
  if (c == '"') return SkipString(text, pos);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    pos = SkipWs(text, pos + 1);
    if (pos < text.size() && text[pos] == close) return pos + 1;
    for (;;) {
      if (c == '{') {
        pos = SkipString(text, SkipWs(text, pos));
        if (pos == std::string::npos) return pos;
        pos = SkipWs(text, pos);
        if (pos >= text.size() || text[pos] != ':') return std::string::npos;
        pos++;
      }
      pos = SkipValue(text, pos, depth + 1);
      if (pos == std::string::npos) return pos;
      pos = SkipWs(text, pos);
      if (pos >= text.size()) return std::string::npos;
      if (text[pos] == close) return pos + 1;
      if (text[pos] != ',') return std::string::npos;
      pos++;
    }
  }
  // A number, true, false or null: up to the next delimiter.
  size_t start = pos;
  while (pos < text.size() && strchr(",]} \t\r\n", text[pos]) == nullptr) pos++;
  return pos == start ? std::string::npos : pos;
}

size_t FindMember(const std::string& text, size_t obj, const std::string& key) {
  obj = SkipWs(text, obj);
  if (obj >= text.size() || text[obj] != '{') return std::string::npos;
  size_t pos = SkipWs(text, obj + 1);
  if (pos < text.size() && text[pos] == '}') return std::string::npos;
  for (;;) {
    pos = SkipWs(text, pos);
    size_t kend = SkipString(text, pos);
    if (kend == std::string::npos) return kend;
    std::string name;
    bool plain = ParseString(text, pos, &name);
    pos = SkipWs(text, kend);
    if (pos >= text.size() || text[pos] != ':') return std::string::npos;
    size_t value = SkipWs(text, pos + 1);
    if (plain && name == key) return value;
    pos = SkipWs(text, SkipValue(text, value, 1));
    if (pos >= text.size() || text[pos] != ',') return std::string::npos;
    pos++;
  }
}

bool ParseString(const std::string& text, size_t pos, std::string* out) {
  size_t end = SkipString(text, pos);
  if (end == std::string::npos) return false;
  out->clear();
  for (size_t i = pos + 1; i + 1 < end; i++) {
    char c = text[i];
    if (c == '\\') {
      char e = text[++i];
      if (e == '"' || e == '\\' || e == '/') out->push_back(e);
      else if (e == 'n') out->push_back('\n');
      else if (e == 't') out->push_back('\t');
      else return false;  // \uXXXX and the rest never occur in what is read here
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string Quote(const std::string& s) {
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      q.push_back('\\');
      q.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      q += buf;
    } else {
      q.push_back(static_cast<char>(c));
    }
  }
  q.push_back('"');
  return q;
}

}  // namespace twine_rt
