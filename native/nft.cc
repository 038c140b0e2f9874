#include "nft.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "args.h"
#include "exports.h"
#include "nft_reaper.h"
#include "nsguard.h"
#include "rtnl.h"

namespace twine {

namespace {

// Whether a run of this input may fill libnftables' interface cache (an
// interface index from or to a name: `meta iif`/`oif` and the like, devices of
// chains and flowtables, anything printed back by a listing). Conservative: a
// false positive only costs the preflight's link dump.
bool MayResolveInterface(const std::string& input) {
  for (const char* word : {"list", "reset", "export", "monitor", "device", "flowtable"})
    if (input.find(word) != std::string::npos) return true;
  for (const char* word : {"iif", "oif"}) {
    for (size_t at = input.find(word); at != std::string::npos; at = input.find(word, at + 3))
      if (input.compare(at + 3, 4, "name") != 0) return true;
  }
  return false;
}

// Never destroyed: its thread may outlive static destruction at exit.
NftReaper* g_reaper = nullptr;

std::string Trim(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// libnftables calls exit() when it cannot open a netlink socket: nft_ctx_new
// (a NETLINK_NETFILTER socket, made non-blocking) and the interface cache the
// first time a run resolves an interface name or index (a bound NETLINK_ROUTE
// socket and an RTM_GETLINK dump). The same steps are tried first, on this
// thread in this namespace with LibnftablesMutex held; when one fails the run
// fails with stage "nft-init" instead. Their two descriptors are closed just
// before libnftables opens its own, so the slots are free for it. The route
// socket and its dump are tried only when the run may fill the interface
// cache (MayResolveInterface): a run that never touches it never opens it.
class Preflight {
 public:
  ~Preflight() { Release(); }
  bool Check(Failure& f, bool interfaces) {
    nf_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
    if (nf_ < 0) {
      f.Set(errno, "nft-init", "libnftables cannot start: netfilter netlink socket");
      return false;
    }
    if (!interfaces) return true;
    std::vector<LinkEntry> links;
    if (!rt_.Open(f) || !rt_.LinkDump(&links, f)) {
      f.stage = "nft-init";
      f.message = "libnftables cannot start: route netlink socket" + (f.message.empty() ? "" : " (" + f.message + ")");
      return false;
    }
    return true;
  }
  void Release() {
    if (nf_ >= 0) close(nf_);
    nf_ = -1;
    rt_.Close();
  }

 private:
  int nf_ = -1;
  Rtnl rt_;
};

class NftJob : public Job {
 public:
  NftJob(Napi::Env env, Target target, std::string text)
      : Job(env, "nftRun", std::move(target)), text_(std::move(text)) {}

  void Execute() override {
    // Contexts are freed off the hot path, and not while that would stall this namespace (nft_reaper.h).
    const ino_t ns = NsGuard::CurrentInode();
    const bool deleting = MayDeleteSomething(text_);
    if (deleting) g_reaper->Deleting(ns);
    try {
      std::lock_guard<std::mutex> lock(LibnftablesMutex());
      Run();
    } catch (...) {
      // The job's catch-all reports it; the context (if any) still goes to the reaper.
      Release(ns, deleting);
      throw;
    }
    Release(ns, deleting);
  }

  Napi::Value Result(Napi::Env env) override { return Napi::String::New(env, output_); }

 private:
  // With LibnftablesMutex held.
  void Run() {
    Preflight pre;
    if (!pre.Check(failure(), MayResolveInterface(text_))) return;
    pre.Release();
    nft_ctx* ctx = ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
      failure().Set(ENOMEM, "nft", "nft_ctx_new failed");
      return;
    }
    // In nft 1.0.6 JSON input is only recognised with JSON output on.
    nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    int rc = nft_run_cmd_from_buffer(ctx, text_.c_str());
    output_ = Trim(nft_ctx_get_output_buffer(ctx));
    if (rc != 0) {
      std::string err = Trim(nft_ctx_get_error_buffer(ctx));
      failure().err = Failure::kErrNft;
      failure().stage = "nft";
      failure().message = err.empty() ? "nft refused the command" : err;
    }
  }

  // Without LibnftablesMutex: hands the context to the reaper and ends the run's deleting mark.
  void Release(ino_t ns, bool deleting) {
    nft_ctx* ctx = ctx_;
    ctx_ = nullptr;
    g_reaper->Hand(ctx, ns, deleting);
  }

  nft_ctx* ctx_ = nullptr;
  std::string text_;
  std::string output_;
};

}  // namespace

void NftInit() {
  if (!g_reaper) g_reaper = new NftReaper();
}

size_t NftContextsHeld() { return g_reaper ? g_reaper->held() : 0; }

Napi::Value NftRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "nftRun", info[0]);
  std::string text = ParseNftInput(env, "nftRun", info[1]);
  return Submit(env, new NftJob(env, std::move(t), std::move(text)));
}

}  // namespace twine
