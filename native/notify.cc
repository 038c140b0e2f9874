// Namespace notifications for the daemon (exports notifyOpen, notifyStart): a
// netlink socket opened inside a namespace (on a pool worker, which enters
// it), subscribed to rtnetlink groups, then watched from the main thread's
// event loop. Each time the socket becomes readable, everything queued is
// drained and the callback is called once: a cheap "something changed"
// signal, with no thread held while nothing happens (unlike the bench's
// watchNs, which blocks a thread). The watch never keeps the process alive.
#include <errno.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "args.h"
#include "exports.h"
#include "netlink_socket.h"

namespace twine {

namespace {

// Docker's set-up of one interface is a few dozen messages; this leaves room
// for far more before the kernel reports an overrun (which only means "check").
constexpr int kRcvBuf = 256 * 1024;

class NotifyOpenJob : public Job {
 public:
  NotifyOpenJob(Napi::Env env, Target target, std::vector<unsigned> groups)
      : Job(env, "notify", std::move(target)), groups_(std::move(groups)) {}
  ~NotifyOpenJob() override {
    if (fd_ >= 0) close(fd_);
  }

  void Execute() override {
    int fd = OpenNetlink(NETLINK_ROUTE, groups_, kRcvBuf, failure(), SOCK_NONBLOCK);
    if (fd >= 0) fd_ = fd;
  }

  Napi::Value Result(Napi::Env env) override {
    int fd = fd_;
    fd_ = -1;  // handed over
    return Napi::Number::New(env, fd);
  }

 private:
  std::vector<unsigned> groups_;
  int fd_ = -1;
};

struct Notifier {
  uv_poll_t poll{};
  int fd = -1;
  Napi::FunctionReference cb;
  napi_env env = nullptr;
  bool closed = false;
};

void CloseNotifier(Notifier* n) {
  if (n->closed) return;
  n->closed = true;
  uv_poll_stop(&n->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&n->poll), [](uv_handle_t* h) {
    auto* n = static_cast<Notifier*>(h->data);
    close(n->fd);
    n->cb.Reset();
    delete n;
  });
}

void OnReadable(uv_poll_t* h, int status, int /*events*/) {
  auto* n = static_cast<Notifier*>(h->data);
  if (n->closed) return;
  bool overrun = status < 0;
  char buf[16 * 1024];
  for (;;) {
    ssize_t r = recv(n->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) continue;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == ENOBUFS) {
      overrun = true;  // messages were lost: the caller checks the state anyway
      continue;
    }
    break;  // EAGAIN: drained
  }
  Napi::Env env(n->env);
  Napi::HandleScope scope(env);
  try {
    n->cb.MakeCallback(env.Global(), {Napi::Boolean::New(env, overrun)});
  } catch (const Napi::Error&) {
    // The JS side catches its own errors; nothing can be thrown to from here.
  }
}

// Main thread: watches fd (taking ownership) and calls cb(overrun) after each drain.
Napi::Value StartNotifier(Napi::Env env, int fd, Napi::Function cb) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    close(fd);
    throw Napi::Error::New(env, "notify: no event loop");
  }
  auto* n = new Notifier();
  n->fd = fd;
  n->env = env;
  n->cb = Napi::Persistent(cb);
  n->poll.data = n;
  if (uv_poll_init(loop, &n->poll, fd) != 0) {
    close(fd);
    n->cb.Reset();
    delete n;
    throw Napi::Error::New(env, "notify: uv_poll_init failed");
  }
  uv_poll_start(&n->poll, UV_READABLE, OnReadable);
  uv_unref(reinterpret_cast<uv_handle_t*>(&n->poll));
  // The Notifier is deleted once its handle is closed; the flag outlives it, so
  // a second close() (or one from inside the callback) never touches it again.
  auto closed = std::make_shared<bool>(false);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("close", Napi::Function::New(
                          env,
                          [n, closed](const Napi::CallbackInfo&) {
                            if (*closed) return;
                            *closed = true;
                            CloseNotifier(n);
                          },
                          "close"));
  return handle;
}

}  // namespace

Napi::Value NotifyOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "notifyOpen", info[0]);
  std::vector<unsigned> groups = ParseNotifyGroups(env, "notifyOpen", info[1]);
  return Submit(env, new NotifyOpenJob(env, std::move(t), std::move(groups)));
}

Napi::Value NotifyStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t fd = ParseU32(env, "notifyStart", "fd", info[0], 1u << 30);
  if (!info[1].IsFunction()) ThrowInvalid(env, "notifyStart", "callback must be a function");
  return StartNotifier(env, static_cast<int>(fd), info[1].As<Napi::Function>());
}

}  // namespace twine
