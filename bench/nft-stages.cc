// Where the time of one in-process nft batch goes (libnftables 1.0.x): the
// stages of NftJob::Execute, timed with a steady clock, and the stages inside
// nft_run_cmd_from_buffer, timed by interposing the library calls that mark
// them (jansson's json_loads/json_dumpf, libmnl's sendto/recvfrom for the
// cache dumps, libc's sendmsg for the commit). Not part of the addon.
//
// Build and run (root):
//   g++ -O2 -std=c++17 -rdynamic -o build/nft-stages bench/nft-stages.cc -lnftables -ldl
//   build/nft-stages --batch <file.json> [--n 200] [--reuse] [--text <file.nft>] [--second <file.json>]
// Each run enters a new network namespace (unshare on this thread), so every
// run is a first apply in a fresh namespace; the thread returns home after it.
//   --reuse     one context per namespace, created before the run is timed
//               (what caching a context per namespace would save)
//   --text      also time the same ruleset through nft's text parser
//   --second    after the timed first batch, time this batch in the same
//               namespace with the same context (a later apply on the table,
//               or a list); ctx_free then shows what closing costs after it
#include <dlfcn.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

double Now() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

enum Kind { kJsonParse, kJsonDump, kNlRequest, kNlRecv, kCommit };
struct Event {
  Kind kind;
  double start, end;
};
bool g_recording = false;
std::vector<Event> g_events;

template <typename F>
F Next(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (!p) {
    fprintf(stderr, "nft-stages: cannot find %s\n", name);
    abort();
  }
  return reinterpret_cast<F>(p);
}

void Record(Kind k, double start) {
  if (g_recording) g_events.push_back({k, start, Now()});
}

}  // namespace

// ---- interposed calls (the executable's symbols win over the libraries') ----
extern "C" {
struct mnl_socket;

void* json_loads(const char* input, size_t flags, void* error) {
  static auto next = Next<void* (*)(const char*, size_t, void*)>("json_loads");
  double t = Now();
  void* r = next(input, flags, error);
  Record(kJsonParse, t);
  return r;
}

int json_dumpf(const void* json, FILE* out, size_t flags) {
  static auto next = Next<int (*)(const void*, FILE*, size_t)>("json_dumpf");
  double t = Now();
  int r = next(json, out, flags);
  Record(kJsonDump, t);
  return r;
}

ssize_t mnl_socket_sendto(const struct mnl_socket* nl, const void* buf, size_t len) {
  static auto next = Next<ssize_t (*)(const struct mnl_socket*, const void*, size_t)>("mnl_socket_sendto");
  double t = Now();
  ssize_t r = next(nl, buf, len);
  Record(kNlRequest, t);
  return r;
}

ssize_t mnl_socket_recvfrom(const struct mnl_socket* nl, void* buf, size_t len) {
  static auto next = Next<ssize_t (*)(const struct mnl_socket*, void*, size_t)>("mnl_socket_recvfrom");
  double t = Now();
  ssize_t r = next(nl, buf, len);
  Record(kNlRecv, t);
  return r;
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  static auto next = Next<ssize_t (*)(int, const struct msghdr*, int)>("sendmsg");
  double t = Now();
  ssize_t r = next(fd, msg, flags);
  Record(kCommit, t);
  return r;
}
}

namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) {
    fprintf(stderr, "nft-stages: cannot read %s\n", path);
    exit(2);
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using Sample = std::map<std::string, double>;

// Splits one nft_run_cmd_from_buffer call [t0, t1] at the recorded events.
void SplitRun(double t0, double t1, Sample& s, const std::string& p) {
  double jsonEnd = t0, firstReq = -1, lastCacheRecv = -1, commitStart = -1, commitEnd = -1;
  int requests = 0;
  for (const Event& e : g_events) {
    if (e.kind == kJsonParse) {
      s[p + "run.json_loads"] += e.end - e.start;
      jsonEnd = e.end;
    } else if (e.kind == kJsonDump) {
      s[p + "run.json_dumpf (output)"] += e.end - e.start;
    } else if (e.kind == kNlRequest) {
      requests++;
      if (firstReq < 0) firstReq = e.start;
    } else if (e.kind == kNlRecv && commitStart < 0) {
      lastCacheRecv = e.end;
    } else if (e.kind == kCommit) {
      commitStart = e.start;
      commitEnd = e.end;
    }
  }
  s[p + "run.netlink_requests"] = requests;
  if (firstReq < 0) firstReq = commitStart >= 0 ? commitStart : t1;
  if (lastCacheRecv < 0) lastCacheRecv = firstReq;
  s[p + "run.parse (to first request)"] = firstReq - t0;
  s[p + "run.to_cmds (after json_loads)"] = firstReq - jsonEnd;
  s[p + "run.cache (genid + dumps)"] = lastCacheRecv - firstReq;
  if (commitStart >= 0) {
    s[p + "run.evaluate+build"] = commitStart - lastCacheRecv;
    s[p + "run.commit (sendmsg)"] = commitEnd - commitStart;
    s[p + "run.acks+cleanup"] = t1 - commitEnd;
  }
}

struct Options {
  const char* batch = nullptr;
  const char* text = nullptr;
  const char* second = nullptr;
  int n = 200;
  bool reuse = false;
};

nft_ctx* NewCtx(Sample& s, const char* prefix) {
  double t = Now();
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  s[std::string(prefix) + "ctx_new"] = Now() - t;
  t = Now();
  nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  s[std::string(prefix) + "buffers"] = Now() - t;
  return ctx;
}

bool RunTimed(nft_ctx* ctx, const std::string& input, Sample& s, const char* prefix) {
  g_events.clear();
  g_recording = true;
  double t0 = Now();
  int rc = nft_run_cmd_from_buffer(ctx, input.c_str());
  double t1 = Now();
  g_recording = false;
  s[std::string(prefix) + "run"] = t1 - t0;
  SplitRun(t0, t1, s, prefix);
  double t = Now();
  std::string out = nft_ctx_get_output_buffer(ctx);
  std::string err = nft_ctx_get_error_buffer(ctx);
  s[std::string(prefix) + "get_buffers"] = Now() - t;
  if (rc != 0) fprintf(stderr, "nft-stages: nft refused: %s\n", err.c_str());
  return rc == 0;
}

void Report(const std::vector<Sample>& samples) {
  std::map<std::string, std::vector<double>> cols;
  for (const Sample& s : samples)
    for (const auto& [k, v] : s) cols[k].push_back(v);
  printf("%-34s %9s %9s %9s  (ms, n=%zu)\n", "stage", "median", "p90", "mean", samples.size());
  for (auto& [k, v] : cols) {
    std::sort(v.begin(), v.end());
    double mean = 0;
    for (double x : v) mean += x;
    mean /= v.size();
    auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
    printf("%-34s %9.3f %9.3f %9.3f\n", k.c_str(), at(0.5), at(0.9), mean);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--batch" && i + 1 < argc) o.batch = argv[++i];
    else if (a == "--text" && i + 1 < argc) o.text = argv[++i];
    else if (a == "--second" && i + 1 < argc) o.second = argv[++i];
    else if (a == "--n" && i + 1 < argc) o.n = atoi(argv[++i]);
    else if (a == "--reuse") o.reuse = true;
    else {
      fprintf(stderr, "usage: %s --batch <file.json> [--n 200] [--reuse] [--text <file.nft>] [--second <file.json>]\n", argv[0]);
      return 2;
    }
  }
  if (!o.batch) return fprintf(stderr, "nft-stages: --batch is required\n"), 2;
  std::string batch = ReadFile(o.batch);
  std::string text = o.text ? ReadFile(o.text) : "";
  std::string second = o.second ? ReadFile(o.second) : "";

  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return perror("open home namespace"), 1;
  // libnftables' one-time global init happens in the first context (the addon does it at load).
  nft_ctx_free(nft_ctx_new(NFT_CTX_DEFAULT));

  std::vector<Sample> samples;
  const int warmup = 10;
  for (int i = 0; i < o.n + warmup; i++) {
    Sample s;
    if (unshare(CLONE_NEWNET) != 0) return perror("unshare(CLONE_NEWNET)"), 1;
    Sample untimed;
    nft_ctx* ctx = o.reuse ? NewCtx(untimed, "") : nullptr;
    double t = Now();
    if (!ctx) ctx = NewCtx(s, "");
    bool ok = RunTimed(ctx, batch, s, "");
    s["total (ctx_new..get_buffers)"] = Now() - t;
    if (ok && o.second) RunTimed(ctx, second, s, "second.");
    t = Now();
    nft_ctx_free(ctx);
    s["ctx_free"] = Now() - t;
    if (ok && o.text) {
      // The same ruleset through the text parser, in another fresh namespace.
      if (unshare(CLONE_NEWNET) != 0) return perror("unshare(CLONE_NEWNET)"), 1;
      t = Now();
      nft_ctx* tctx = nft_ctx_new(NFT_CTX_DEFAULT);
      nft_ctx_buffer_output(tctx);
      nft_ctx_buffer_error(tctx);
      RunTimed(tctx, text, s, "text.");
      s["text.total"] = Now() - t;
      nft_ctx_free(tctx);
    }
    if (setns(home, CLONE_NEWNET) != 0) return perror("setns(home)"), 1;
    if (!ok) return 1;
    if (i >= warmup) samples.push_back(std::move(s));
  }
  Report(samples);
  return 0;
}
