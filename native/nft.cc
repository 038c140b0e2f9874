#include "nft.h"

#include <nftables/libnftables.h>

#include "nft_reaper.h"
#include "nsguard.h"

namespace twine {

namespace {

// Never destroyed: its thread may outlive static destruction at exit.
NftReaper* g_reaper = nullptr;

std::string Trim(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

class NftJob : public Job {
 public:
  NftJob(Napi::Env env, Target target, std::string text)
      : Job(env, "nftRun", std::move(target)), text_(std::move(text)) {}

  void Execute() override {
    nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
      failure().Set(ENOMEM, "nft", "nft_ctx_new failed");
      return;
    }
    // Contexts are freed off the hot path, and not while that would stall this namespace (nft_reaper.h).
    const ino_t ns = NsGuard::CurrentInode();
    const bool deleting = MayDeleteSomething(text_);
    if (deleting) g_reaper->Deleting(ns);
    // In nft 1.0.6 JSON input is only recognised with JSON output on.
    nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    int rc = nft_run_cmd_from_buffer(ctx, text_.c_str());
    output_ = Trim(nft_ctx_get_output_buffer(ctx));
    std::string err = Trim(nft_ctx_get_error_buffer(ctx));
    if (rc != 0) {
      failure().err = Failure::kErrNft;
      failure().stage = "nft";
      failure().message = err.empty() ? "nft refused the command" : err;
    }
    g_reaper->Hand(ctx, ns, deleting);
  }

  Napi::Value Result(Napi::Env env) override { return Napi::String::New(env, output_); }

 private:
  std::string text_;
  std::string output_;
};

}  // namespace

void NftInit() {
  if (g_reaper) return;
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx) nft_ctx_free(ctx);
  g_reaper = new NftReaper();
}

size_t NftContextsHeld() { return g_reaper ? g_reaper->held() : 0; }

Job* NewNftJob(Napi::Env env, Target target, std::string text) {
  return new NftJob(env, std::move(target), std::move(text));
}

}  // namespace twine
